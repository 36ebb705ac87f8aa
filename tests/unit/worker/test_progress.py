"""Lag and the stuck clock, from a consumer's assignment, high watermarks and commits."""

from __future__ import annotations

from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry

from app.metrics import AppMetrics
from app.worker.progress import ProgressMonitor


class FakeConsumer:
    def __init__(self) -> None:
        self.highwaters: dict[TP, int | None] = {}

    def assignment(self) -> set[TP]:
        return set(self.highwaters)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters[tp]


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.monitor = type("Monitor", (), {"tp_committed_offsets": {}})()


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def monitor() -> tuple[ProgressMonitor, FakeApp, Clock, CollectorRegistry]:
    app, clock, registry = FakeApp(), Clock(), CollectorRegistry()
    progress = ProgressMonitor(
        app,  # type: ignore[arg-type]
        "in",
        AppMetrics.create(registry),
        clock=clock,
    )
    return progress, app, clock, registry


def lag_metric(registry: CollectorRegistry, partition: int) -> Any:
    return registry.get_sample_value("streamrec_consumer_lag", {"partition": str(partition)})


def test_lag_is_highwater_past_the_committed_offset() -> None:
    progress, app, _, registry = monitor()
    app.consumer.highwaters = {
        TP("in", 0): 10,
        TP("in", 1): 5,
        TP("other", 0): 99,
        TP("in", 2): None,
    }
    app.monitor.tp_committed_offsets.update({TP("in", 0): 6, TP("in", 1): 4})
    progress.sample()
    assert progress.lag == {0: 3, 1: 0}  # committed 6 = processed up to 6, next is 7
    assert lag_metric(registry, 0) == 3
    # A partition that moves to another worker disappears from the metric.
    del app.consumer.highwaters[TP("in", 0)]
    progress.sample()
    assert lag_metric(registry, 0) is None and progress.lag == {1: 0}


def test_stuck_means_lag_without_commits() -> None:
    progress, app, clock, _ = monitor()
    tp = TP("in", 0)
    app.consumer.highwaters = {tp: 10}
    app.monitor.tp_committed_offsets[tp] = 3
    progress.sample()
    clock.now += 30
    progress.sample()
    assert progress.stuck_for() == 30  # lag 6 for 30 s, nothing committed
    app.monitor.tp_committed_offsets[tp] = 5
    progress.sample()
    assert progress.stuck_for() == 0  # a commit is progress
    clock.now += 30
    progress.sample(busy_elsewhere=True)  # recovering or rebalancing: readiness's business
    assert progress.stuck_for() == 0
    app.monitor.tp_committed_offsets[tp] = 9
    clock.now += 30
    progress.sample()
    assert progress.stuck_for() == 0  # no lag: idle, not stuck


def test_an_empty_partition_never_committed_has_no_lag() -> None:
    progress, app, _, _ = monitor()
    app.consumer.highwaters = {TP("in", 0): 0, TP("in", 1): 4, TP("in", 2): None}
    progress.sample()
    # Partition 1 has records and no commit yet, 2 was not fetched: both unknown, not zero.
    assert progress.lag == {0: 0}
    assert progress.stuck_for() == 0
