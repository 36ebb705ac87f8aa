"""What a worker checks before Faust starts: its data directory and a broker that answers.

Without these checks a fresh clone's first ``faust -A app worker`` ended in Faust's
``FileNotFoundError`` for ``var/data`` (Faust creates only the last path component), and a
broker that was not up yet ended it in an aiokafka traceback.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable

from app.errors import CannotStart
from app.settings import Settings

__all__ = ["is_reachable", "prepare_data_dir", "prepare_worker", "wait_for_broker"]


def is_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def prepare_worker(settings: Settings) -> None:
    """Create the data directory and wait for the broker; CannotStart says what is wrong."""
    prepare_data_dir(settings)
    wait_for_broker(settings)


def prepare_data_dir(settings: Settings) -> None:
    """Create STREAMREC_DATA_DIR (with its parents) and say where the state lives."""
    path = settings.data_dir.absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotStart(
            f"STREAMREC_DATA_DIR={str(settings.data_dir)!r} cannot be created "
            f"({exc.strerror or exc}): point it at a writable directory"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CannotStart(
            f"STREAMREC_DATA_DIR={str(settings.data_dir)!r} is not writable: "
            "point it at a writable directory"
        )
    _say(f"table state in {path} (STREAMREC_DATA_DIR)")


def wait_for_broker(
    settings: Settings,
    reachable: Callable[[str, int], bool] = is_reachable,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once a bootstrap server accepts connections; CannotStart after BROKER_WAIT_S."""
    addresses = settings.broker_addresses
    deadline = clock() + settings.broker_wait_s
    told = False
    while not any(reachable(host, port) for host, port in addresses):
        if clock() >= deadline:
            raise CannotStart(
                f"no Kafka broker answered at {settings.broker} within "
                f"{settings.broker_wait_s:g}s: check STREAMREC_BROKER and that the broker is "
                "up (`faust -A app broker` or `make run` starts an embedded one); exit code 1, "
                "so an orchestrator restarts the worker"
            )
        if not told:
            _say(f"waiting up to {settings.broker_wait_s:g}s for the Kafka broker at "
                 f"{settings.broker} (STREAMREC_BROKER): not reachable yet")  # fmt: skip
            told = True
        sleep(0.5)


def _say(line: str) -> None:
    # Faust sets up logging only once its Worker runs; these lines come before that.
    print(f"streamrec: {line}", file=sys.stderr, flush=True)
