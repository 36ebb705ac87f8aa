"""Trending items, the pure part: hopping event-time windows, each partition's top items per
window, and the merge of every partition's top items into the deployment's list.

Windows are Faust's hopping windows: ``[start, start + window_s)`` for every ``start`` that is
a multiple of ``step_s``, so an event counts in ``window_s / step_s`` windows. Items are
partitioned by item, so an item's count lives in exactly one partition, and the global top N
of a window is found among the partitions' top N (merged under the same order: count, then
item id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.settings import Settings

__all__ = ["Counted", "TrendingConfig", "Watermarks", "merge_tops", "partition_tops"]

Counted = tuple[str, int]
"""(item id, count)."""


@dataclass(frozen=True)
class TrendingConfig:
    """The windows, what counts as too late, and how many items a partition publishes."""

    window_s: int = 3600
    step_s: int = 600
    retention_s: int = 21_600
    grace_s: float = 600.0
    top_n: int = 100

    @classmethod
    def from_settings(cls, s: Settings) -> TrendingConfig:
        return cls(s.trending_window_s, s.trending_step_s, s.trending_retention_s,
                   s.trending_grace_s, s.trending_top_n)  # fmt: skip

    def bucket(self, ts: float) -> float:
        """The step an event falls in: events of one step count in the same windows."""
        return math.floor(ts / self.step_s) * self.step_s

    def current(self, newest_start: float) -> float:
        """The full window ending with the newest step: the last ``window_s`` of events."""
        return newest_start - self.window_s + self.step_s

    def retained(self, start: float, newest_start: float) -> bool:
        """Is the window starting at ``start`` still kept, ``newest_start`` the newest one?"""
        return start + self.window_s > newest_start + self.step_s - self.retention_s


class Watermarks:
    """Per partition, the newest event time counted: an event more than ``grace_s`` behind
    it is too late. Kept in memory: after a restart or a rebalance a partition's first
    events set it again."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.newest: dict[int, float] = {}

    def admit(self, partition: int, ts: float) -> bool:
        """Count this event (and move the watermark), or refuse it as too late."""
        newest = self.newest.get(partition)
        if newest is not None and ts < newest - self.grace_s:
            return False
        if newest is None or ts > newest:
            self.newest[partition] = ts
        return True


def partition_tops(
    counts: Iterable[tuple[str, float, int]], config: TrendingConfig
) -> dict[float, list[Counted]]:
    """Window start -> the top ``top_n`` (item, count), from (item, window start, count)
    triples of one partition; windows past the retention are left out."""
    windows: dict[float, list[Counted]] = {}
    for item, start, count in counts:
        if count > 0:
            windows.setdefault(start, []).append((item, count))
    if not windows:
        return {}
    newest = max(windows)
    return {
        start: _top(items, config.top_n)
        for start, items in windows.items()
        if config.retained(start, newest)
    }


def merge_tops(tops: Iterable[Mapping[float, list[Counted]]], n: int) -> dict[float, list[Counted]]:
    """Window start -> the top ``n`` over every partition's top items (disjoint items)."""
    merged: dict[float, list[Counted]] = {}
    for top in tops:
        for start, items in top.items():
            merged.setdefault(start, []).extend(items)
    return {start: _top(items, n) for start, items in merged.items()}


def _top(items: list[Counted], n: int) -> list[Counted]:
    return sorted(items, key=lambda ic: (-ic[1], ic[0]))[:n]
