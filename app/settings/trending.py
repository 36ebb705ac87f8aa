"""Trending items: whether they are counted, and the event-time windows they are counted in."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from app.settings.base import ENV_PREFIX, Scope

__all__ = ["TrendingSettings"]


class TrendingSettings(Scope):
    """The trending switch, its hopping windows and how often workers share their counts."""

    trending: bool = False
    """Count interactions per item in hopping event-time windows (repartitioned by item) and
    serve the merged top items at ``GET /trending/``; cold-start users get them. Off by
    default: a fifth to a third more CPU per event, and wider latency tails in bursts (see the
    docs/features/trending.md)."""

    trending_window_s: int = Field(default=3600, ge=1)
    """Size of a trending window, in event time (the interactions' ``ts``)."""

    trending_step_s: int = Field(default=600, ge=1)
    """How far apart trending windows start (hopping windows; the size is a multiple of it)."""

    trending_retention_s: int = Field(default=21_600, ge=1)
    """How long (event time, behind the newest event) a trending window is kept and shown."""

    trending_grace_s: float = Field(default=600.0, ge=0)
    """How late an event may come (event time, behind the newest its partition has seen) and
    still be counted; later ones are counted in ``streamrec_trending_late_total`` only."""

    trending_top_n: int = Field(default=100, ge=1, le=10_000)
    """How many items per window each worker publishes (the most ``/trending/`` can show)."""

    trending_publish_s: float = Field(default=2.0, gt=0)
    """How often each worker publishes its partitions' top items (every worker merges them)."""

    @model_validator(mode="after")
    def _trending_windows(self) -> Self:
        if self.trending_window_s % self.trending_step_s:
            raise ValueError(
                f"{ENV_PREFIX}TRENDING_WINDOW_S={self.trending_window_s} is not a multiple of "
                f"{ENV_PREFIX}TRENDING_STEP_S={self.trending_step_s}: make it one"
            )
        if self.trending_retention_s < self.trending_window_s:
            raise ValueError(
                f"{ENV_PREFIX}TRENDING_RETENTION_S={self.trending_retention_s} is shorter than "
                f"{ENV_PREFIX}TRENDING_WINDOW_S={self.trending_window_s}: keep at least a window"
            )
        return self
