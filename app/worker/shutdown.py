"""Graceful shutdown on SIGTERM (and Ctrl-C), bounded in time.

Faust's own stop, measured: the consumer stops fetching, waits until the records in progress
are acked, commits, closes the tables, flushes the producer, leaves the group, and only then
stops the agents. Two gaps, both closed here:

- the agent may take and deliver further batches after that last commit (already fetched
  records), which the next owner of the partitions then processes again. On the signal the
  agent finishes the batches in progress and takes no other (``RecommendAgent.request_stop``);
- nothing bounds it: with the broker refusing deliveries, the batch in progress is retried for
  ever and Faust waits for it (a worker asked to stop was still up after 90 s). Here the batch
  in progress gets half of SHUTDOWN_TIMEOUT_S to finish, then it is abandoned: not acked, so
  not committed, so the partitions' next owner processes it again (at-least-once holds). If the
  rest of the stop (commit, producer flush, leaving the group) cannot finish either, the
  process exits when SHUTDOWN_TIMEOUT_S has passed, with code 1 and a log line saying so; what
  was not committed is read again by the next owner.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["FORCED_EXIT_CODE", "Shutdown"]

logger = logging.getLogger(__name__)

FORCED_EXIT_CODE = 1
"""The exit code when the stop did not finish within SHUTDOWN_TIMEOUT_S."""


class Shutdown:
    """Told of the stop signal once; runs the stop callbacks and arms the exit deadline."""

    def __init__(
        self,
        timeout_s: float,
        *,
        exit_now: Callable[[int], object] = os._exit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self._exit_now = exit_now
        self._clock = clock
        self._callbacks: list[Callable[[float], None]] = []
        self._started: float | None = None
        self._timer: threading.Timer | None = None

    @property
    def requested(self) -> bool:
        return self._started is not None

    def on_stop(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(seconds)`` on the signal, with the time the batch in progress may
        still take (half the timeout: the other half is for committing and leaving)."""
        self._callbacks.append(callback)

    def begin(self) -> None:
        """The stop signal arrived (on the event loop's thread). Idempotent."""
        if self._started is not None:
            return
        self._started = self._clock()
        logger.info(
            "stop requested: finishing the batch in progress, then committing and leaving the "
            "consumer group; exiting within %.0f s (STREAMREC_SHUTDOWN_TIMEOUT_S)",
            self.timeout_s,
        )
        # A thread, not the event loop: the deadline must hold when the loop itself is stuck.
        self._timer = threading.Timer(self.timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        for callback in self._callbacks:
            callback(self.timeout_s / 2)

    def _expire(self) -> None:
        took = self._clock() - (self._started or 0.0)
        logger.error(
            "stop did not finish within %.0f s (STREAMREC_SHUTDOWN_TIMEOUT_S; %.1f s since the "
            "signal): exiting now. Records not committed are processed again by the "
            "partitions' next owner (at-least-once); check the broker if this repeats",
            self.timeout_s,
            took,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        self._exit_now(FORCED_EXIT_CODE)
