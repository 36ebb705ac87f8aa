"""A broker that lost its data: one line naming the partition, the offsets and what to do."""

from __future__ import annotations

import logging

import pytest
from faust.exceptions import ConsistencyError
from faust.tables.recovery import E_PERSISTED_OFFSET
from faust.types import TP

from app.errors import BrokerDataLost, StreamrecError
from app.worker.data_lost import DATA_LOST_EXIT_CODE, broker_data_lost, exit_data_lost


def test_faust_s_consistency_error_becomes_one_line_saying_what_to_do() -> None:
    tp = TP("streamrec-latest-changelog", 2)
    reason = ConsistencyError(E_PERSISTED_OFFSET.format(tp, 6, -1))
    error = broker_data_lost(reason, "/var/lib/streamrec")
    assert isinstance(error, StreamrecError) and "\n" not in str(error)
    assert str(error) == (
        "the broker no longer has this worker's table data (changelog TP(topic="
        "'streamrec-latest-changelog', partition=2) is empty on the broker, but this "
        "worker's tables already hold offset 6): it came back empty or its topics were made "
        "again. Move STREAMREC_DATA_DIR (/var/lib/streamrec) aside and start the worker "
        "again; it rebuilds its tables from what the broker holds now"
    )
    shorter = broker_data_lost(ConsistencyError(E_PERSISTED_OFFSET.format(tp, 9, 4)), "d")
    assert "partition=2) ends at offset 4 on the broker, but this worker's tables already " \
           "hold offset 9)" in str(shorter)  # fmt: skip
    # Another wording (a later Faust): its message, still on one line.
    other = broker_data_lost(ConsistencyError("changelog\nahead of the broker"), "d")
    assert "(changelog ahead of the broker)" in str(other)


def test_it_exits_with_one_log_line_and_a_non_zero_code(caplog: pytest.LogCaptureFixture) -> None:
    codes: list[int] = []
    with pytest.raises(SystemExit) as stopped:
        exit_data_lost(BrokerDataLost("the broker no longer has it"), exit_now=codes.append)
    assert codes == [DATA_LOST_EXIT_CODE] != [0] and stopped.value.code == DATA_LOST_EXIT_CODE
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.CRITICAL, "streamrec: stopping: the broker no longer has it", None)
    ]
