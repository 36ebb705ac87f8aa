"""The Kafka client's repeated errors: the first in full, then one line per window with a count."""

from __future__ import annotations

import logging

import pytest

from app.worker.log_summary import RepeatSummary, summarise_client_errors


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_error_shows_then_one_line_per_window_with_how_many_were_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    summary = RepeatSummary(every_s=10.0, clock=clock)
    log = logging.getLogger("tests.flood")
    log.addFilter(summary)
    try:
        caplog.set_level(logging.DEBUG, logger="tests.flood")
        for n in range(100):  # 25 s at 4 a second, two nodes alternating
            log.error("Unable connect to node with id %s: %s", n % 2, "refused")
            log.debug("retrying")  # below WARNING: never summarised
            clock.now += 0.25
        log.error("Unable to update metadata from %s", [0])  # another kind: its own window
    finally:
        log.removeFilter(summary)
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(isinstance(r.args, tuple) for r in caplog.records)  # as mode's formatter needs
    assert shown == [
        "Unable connect to node with id 0: refused",
        "Unable connect to node with id 0: refused (39 more like this in the last 10 s, not shown)",
        "Unable connect to node with id 0: refused (39 more like this in the last 10 s, not shown)",
        "Unable to update metadata from [0]",
    ]
    assert sum(r.getMessage() == "retrying" for r in caplog.records) == 100


def test_it_is_put_on_each_client_logger_once() -> None:
    names = ["tests.client.a", "tests.client.b"]
    first = summarise_client_errors(loggers=names)
    summarise_client_errors(loggers=names)
    try:
        for name in names:
            assert logging.getLogger(name).filters == [first]
    finally:
        for name in names:
            logging.getLogger(name).removeFilter(first)
