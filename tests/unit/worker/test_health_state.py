"""The worker's health beyond Faust: the broker's reachability and the run of failed batches."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from app.metrics import AppMetrics
from app.worker.health_state import FAILED_BATCHES_UNREADY, WorkerHealth


class Clock:
    now = 50.0

    def __call__(self) -> float:
        return self.now


def health() -> tuple[WorkerHealth, Clock, CollectorRegistry]:
    clock, registry = Clock(), CollectorRegistry()
    return WorkerHealth(AppMetrics.create(registry), clock=clock), clock, registry


def test_the_broker_is_unknown_until_probed_then_each_change_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h, clock, registry = health()
    assert not h.broker_connected and h.broker_problem() == "broker not reached yet"
    assert h.broker_down_s() == 0 and h.broker_up_s() == 0
    h.broker_seen(True)
    assert h.broker_connected and h.broker_problem() is None
    assert registry.get_sample_value("streamrec_broker_connected") == 1
    clock.now += 100
    assert h.broker_up_s() == 100

    caplog.set_level(logging.WARNING)
    for _ in range(5):  # one probe a second: one line for the outage, not one per probe
        h.broker_seen(False, "127.0.0.1:9092: refused")
        clock.now += 1
    assert registry.get_sample_value("streamrec_broker_connected") == 0
    assert h.broker_problem() == "broker unreachable for 5 s" and h.broker_up_s() == 0
    h.broker_seen(True)
    h.broker_seen(True)
    assert [r.getMessage() for r in caplog.records] == [
        "broker unreachable (127.0.0.1:9092: refused): not ready until it answers again "
        "(streamrec_broker_connected 0)",
        "broker reachable again after 5.0 s: ready",
    ]
    assert h.broker_up_s() == 0 and h.broker_down_s() == 0


def test_batches_fail_the_worker_after_a_run_of_failures_and_one_pass_ends_it() -> None:
    h, _, _ = health()
    for _ in range(FAILED_BATCHES_UNREADY - 1):
        h.batch_done(failed=True)
    h.batch_done(failed=False)  # the run is broken: counting starts again
    for _ in range(FAILED_BATCHES_UNREADY - 1):
        h.batch_done(failed=True)
    assert not h.batches_failing and h.batches_problem() is None
    h.batch_done(failed=True)
    assert h.batches_failing
    assert "batches all failed" in (h.batches_problem() or "")
    h.batch_done(failed=False)
    assert not h.batches_failing
