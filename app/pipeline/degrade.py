"""Lag-aware degradation: when events wait too long, answer only each user's newest one.

Past saturation every update is later than the last, and most of a backlog's updates are
superseded by the same user's next event already waiting in it. While the oldest record
of a batch has waited longer than DEGRADE_LAG_S (from its Kafka timestamp), a batch sends
one update per user (for the newest event; every event still updates the state), skips
the shadow arm and the prediction cache. It switches back once the wait is under half the
threshold, so it does not flap around it, or once the worker has caught up: a backlog that
drains and then no event arrives brings no batch to judge the wait by, so a worker timer asks
``caught_up`` once a second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

__all__ = ["Degradation", "caught_up"]

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

    def idle(self, caught_up: bool) -> bool:
        """Between batches: switch back once the worker has ``caught_up``; whether it did."""
        if not (self.active and caught_up):
            return False
        self.active = False
        logger.warning("no longer degraded: caught up (no consumer lag)")
        return True


def caught_up(lag: Mapping[int, int], owned: Iterable[int]) -> bool:
    """No lag on any input partition this worker owns, each one known (a partition not yet
    fetched or committed is not). Lag is counted from the committed offsets, so 0 also means
    no record is waiting in the worker or in a batch: each would be uncommitted."""
    return all(lag.get(partition) == 0 for partition in owned)
