"""A worker whose broker lost its data exits with one line that says so, not a traceback.

When a broker comes back empty (the embedded one always does; a Kafka cluster whose disks or
topics were wiped), Faust's recovery finds a changelog that ends before the offset the
worker's RocksDB store already holds and raises ConsistencyError; the worker then printed two
tracebacks and a third from its stop ("Event loop is closed"). Here it logs one line naming
the partition, the offsets and what to do, and exits with code 1 at once: nothing is
committed after the broker lost its data, and a supervisor restarts the worker.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from app.errors import BrokerDataLost

__all__ = ["DATA_LOST_EXIT_CODE", "broker_data_lost", "exit_data_lost"]

logger = logging.getLogger(__name__)

DATA_LOST_EXIT_CODE = 1

# Faust's E_PERSISTED_OFFSET: "... changelog topic partition {tp} is higher than the last
# offset in that topic (highwater) ({persisted} > {highwater}). ..."
_PERSISTED = re.compile(
    r"partition (?P<tp>TP\(.*?\)) is higher\s+than the last offset in that topic "
    r"\(highwater\) \((?P<ours>-?\d+) > (?P<broker>-?\d+)\)"
)


def broker_data_lost(reason: BaseException, data_dir: Path | str) -> BrokerDataLost:
    """The one-line error for Faust's ConsistencyError ``reason``."""
    found = _PERSISTED.search(str(reason))
    if found:
        # Faust's highwater is the offset of the last record: -1 for an empty changelog.
        broker = int(found["broker"])
        where = "is empty on the broker" if broker < 0 else f"ends at offset {broker} on the broker"
        what = (
            f"changelog {found['tp']} {where}, but this worker's tables already hold offset "
            f"{found['ours']}"
        )
    else:
        what = " ".join(str(reason).split())  # Faust's message, on one line
    return BrokerDataLost(
        f"the broker no longer has this worker's table data ({what}): it came back empty or "
        f"its topics were made again. Move STREAMREC_DATA_DIR ({data_dir}) aside and start "
        "the worker again; it rebuilds its tables from what the broker holds now"
    )


def exit_data_lost(error: BrokerDataLost, exit_now: Callable[[int], object] = os._exit) -> NoReturn:
    """Log ``error`` on one line and end the process now, with DATA_LOST_EXIT_CODE.

    At once rather than through Faust's stop, which after this crash ended in tracebacks of
    its own and would commit and produce to a broker whose topics are not the ones the state
    came from; the RocksDB stores recover from their write-ahead logs (as after a kill) if the
    operator keeps them."""
    logger.critical("streamrec: stopping: %s", error)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    exit_now(DATA_LOST_EXIT_CODE)
    raise SystemExit(DATA_LOST_EXIT_CODE)  # only reached when ``exit_now`` returns (tests)
