"""What readiness knows beyond Faust: whether the broker answers, and whether batches pass.

Both are told here by the worker (``broker_watch`` once a second, the agent once per batch)
and read by /health/ready, /metrics and the operator page. A worker that cannot reach its
broker, or whose every batch fails, is alive but not ready: an orchestrator takes it out of
service without restarting it (a restart fixes neither an outage nor a bad model).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from app.metrics import AppMetrics

__all__ = ["FAILED_BATCHES_UNREADY", "WorkerHealth"]

logger = logging.getLogger(__name__)

FAILED_BATCHES_UNREADY = 3
"""This many batches failing in a row (each dead-lettered whole as ``processing_error`` after
its BATCH_RETRIES) make the worker not ready; one batch that passes makes it ready again.
More than one, so that a single poison batch does not take a worker out of service."""


class WorkerHealth:
    """The broker's reachability (unknown until first probed) and the run of failed batches."""

    def __init__(self, metrics: AppMetrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.clock = clock
        self._reachable: bool | None = None
        self._since = clock()
        self._failed_in_a_row = 0

    def broker_seen(self, reachable: bool, detail: str = "") -> None:
        """The latest probe's answer; a change is logged once (not once per probe)."""
        now = self.clock()
        if reachable != self._reachable:
            if not reachable:
                logger.error(
                    "broker unreachable%s: not ready until it answers again "
                    "(streamrec_broker_connected 0)", f" ({detail})" if detail else "",
                )  # fmt: skip
            elif self._reachable is False:
                logger.warning("broker reachable again after %.1f s: ready", now - self._since)
            self._reachable, self._since = reachable, now
        self.metrics.broker_connected.set(1 if reachable else 0)

    @property
    def broker_connected(self) -> bool:
        """Whether the broker answered the latest probe (False before the first one)."""
        return bool(self._reachable)

    def broker_down_s(self) -> float:
        """Seconds since the broker stopped answering (0 while it answers)."""
        return self.clock() - self._since if self._reachable is False else 0.0

    def broker_up_s(self) -> float:
        """Seconds since the broker answers again (since the start if it never stopped; 0
        while it does not answer)."""
        return 0.0 if self._reachable is False else self.clock() - self._since

    def batch_done(self, failed: bool) -> None:
        """One batch processed: ``failed`` when it was dead-lettered whole."""
        self._failed_in_a_row = self._failed_in_a_row + 1 if failed else 0

    @property
    def batches_failing(self) -> bool:
        """Whether the last FAILED_BATCHES_UNREADY batches all failed."""
        return self._failed_in_a_row >= FAILED_BATCHES_UNREADY

    def broker_problem(self) -> str | None:
        """Why the broker keeps this worker unready (None: it answers)."""
        if self._reachable is None:
            return "broker not reached yet"
        if not self._reachable:
            return f"broker unreachable for {self.broker_down_s():.0f} s"
        return None

    def batches_problem(self) -> str | None:
        """Why failing batches keep this worker unready (None: they pass)."""
        if not self.batches_failing:
            return None
        return (
            f"the last {self._failed_in_a_row} batches all failed (their events went to the "
            "dead-letter topic as processing_error; the worker log says why)"
        )
