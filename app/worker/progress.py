"""Consumer lag per input partition and how long the worker has had lag without committing.

Lag is the fetch high watermark minus the committed offset: the fetch response's high
watermark is right on every broker (the embedded one's ListOffsets is not). A worker that
has lag and commits nothing for STALL_TIMEOUT_S is stuck, and /health/live says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import faust

from app.metrics import AppMetrics

__all__ = ["ProgressMonitor"]


class ProgressMonitor:
    """Sampled once a second by a worker timer; read by /health/live and /metrics."""

    def __init__(
        self,
        app: faust.App,
        topic: str,
        metrics: AppMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self.lag: dict[int, int] = {}
        self._committed: dict[int, int] = {}
        self._last_progress: float | None = None  # None until the first sample

    def owned(self) -> list[int]:
        """The input topic's partitions assigned to this worker now."""
        return sorted(tp.partition for tp in self.app.consumer.assignment() if
                      tp.topic == self.topic)  # fmt: skip

    def sample(self, busy_elsewhere: bool = False) -> None:
        """Refresh lag; progress is a commit, no lag at all, or ``busy_elsewhere`` (recovering,
        rebalancing, loading a model: readiness reports those, liveness must not)."""
        now = self.clock()
        consumer = self.app.consumer
        committed_by_tp = self.app.monitor.tp_committed_offsets
        lag: dict[int, int] = {}
        committed: dict[int, int] = {}
        for tp in consumer.assignment():
            if tp.topic != self.topic:
                continue
            highwater = consumer.highwater(tp)
            offset = committed_by_tp.get(tp)
            if offset is None:
                # Never committed: an empty partition has no lag (so degradation can end
                # with it); one with records, or not fetched yet, is unknown, not zero.
                if highwater == 0:
                    lag[tp.partition] = 0
                continue
            if highwater is None:
                continue
            # Faust records the last processed offset; Kafka's committed offset is one past it.
            lag[tp.partition] = max(0, highwater - (offset + 1))
            committed[tp.partition] = offset
        moved = any(committed.get(p, -1) > self._committed.get(p, -1) for p in committed)
        if busy_elsewhere or moved or not any(lag.values()):
            self._last_progress = now
        for partition in self.lag.keys() - lag.keys():
            self.metrics.consumer_lag.remove(str(partition))  # partition moved away
        for partition, n in lag.items():
            self.metrics.consumer_lag.labels(str(partition)).set(n)
        self.lag, self._committed = lag, committed
        self.metrics.lag_without_commit.set(self.stuck_for())

    def stuck_for(self) -> float:
        """Seconds with lag and without a commit (0 while the worker keeps up)."""
        if self._last_progress is None or not any(self.lag.values()):
            return 0.0
        return self.clock() - self._last_progress
