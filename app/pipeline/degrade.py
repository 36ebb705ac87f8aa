"""Lag-aware degradation: when events wait too long, answer only each user's newest one.

Past saturation every update is later than the last, and most of a backlog's updates are
superseded by the same user's next event already waiting in it. While the oldest record
of a batch has waited longer than DEGRADE_LAG_S (from its Kafka timestamp), a batch sends
one update per user (for the newest event; every event still updates the state), skips
the shadow arm and the prediction cache. It switches back once the wait is under half the
threshold, so it does not flap around it.
"""

from __future__ import annotations

import logging

__all__ = ["Degradation"]

logger = logging.getLogger(__name__)


class Degradation:
    """On past ``lag_s`` of queue wait, off under half of it; ``lag_s`` 0 never degrades."""

    def __init__(self, lag_s: float) -> None:
        self.lag_s = lag_s
        self.active = False

    def observe(self, wait_s: float) -> bool:
        """Whether this batch, whose oldest record waited ``wait_s``, runs degraded."""
        if self.lag_s <= 0:
            return False
        if not self.active and wait_s > self.lag_s:
            self.active = True
            logger.warning(
                "degraded: the oldest event of a batch waited %.2f s (DEGRADE_LAG_S %g): one "
                "update per user per batch, no shadow, no prediction cache, until it is under "
                "%g s",
                wait_s, self.lag_s, self.lag_s / 2,
            )  # fmt: skip
        elif self.active and wait_s < self.lag_s / 2:
            self.active = False
            logger.warning("no longer degraded: the oldest event of a batch waited %.2f s", wait_s)
        return self.active
