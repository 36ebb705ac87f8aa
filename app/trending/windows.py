"""Trending items, the pure part: hopping event-time windows made of steps, each partition's
top items per window, and the merge of every partition's top items into the deployment's list.

Windows are Faust's hopping windows: ``[start, start + window_s)`` for every ``start`` that is
a multiple of ``step_s``, so an event counts in ``window_s / step_s`` windows. They are not
stored as such: events are counted per step (a tumbling table of ``step_s``), and a window's
count is the sum of its steps', computed when a partition's top items are published. That is
one table write per item and step instead of one per window holding the step (6 with the
defaults). Items are partitioned by item, so an item's count lives in exactly one partition,
and the global top N of a window is found among the partitions' top N (merged under the same
order: count, then item id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from app.settings import Settings

__all__ = ["Counted", "StepCounts", "TrendingConfig", "Watermarks", "merge_tops", "window_tops"]

Counted = tuple[str, int]
"""(item id, count)."""

StepCounts = Mapping[tuple[str, float], int]
"""(item id, step start) -> events of the item in that step, for one partition."""


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
        # A float, as Faust's window ranges are: the table key's JSON must match (1.0, not 1).
        return float(math.floor(ts / self.step_s) * self.step_s)

    def current(self, newest_start: float) -> float:
        """The full window ending with the newest step: the last ``window_s`` of events."""
        return newest_start - self.window_s + self.step_s

    def retained(self, start: float, newest_start: float) -> bool:
        """Is the window starting at ``start`` still kept, ``newest_start`` the newest one?"""
        return start + self.window_s > newest_start + self.step_s - self.retention_s

    def oldest_retained(self, newest_start: float) -> float:
        """Start of the oldest window kept (also the oldest step any kept window needs)."""
        lowest = newest_start + self.step_s - self.retention_s - self.window_s
        return float((math.floor(lowest / self.step_s) + 1) * self.step_s)


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


def window_tops(counts: StepCounts, config: TrendingConfig) -> dict[float, list[Counted]]:
    """Window start -> the top ``top_n`` (item, count) of one partition, every kept window
    that holds an event, from its per-step counts."""
    live = {key: n for key, n in counts.items() if n > 0}
    if not live:
        return {}
    step, per_window = config.step_s, config.window_s // config.step_s
    items = sorted({item for item, _ in live})
    newest = max(start for _, start in live)
    first = max(min(start for _, start in live) - config.window_s + step,
                config.oldest_retained(newest))  # fmt: skip
    # Steps on a grid from the oldest kept window's start to the newest step: a window is
    # the sum of the per_window steps from its start (cumulative sums, per item).
    grid = round((newest - first) / step) + 1
    row = {item: n for n, item in enumerate(items)}
    steps = np.zeros((len(items), grid), dtype=np.int64)
    for (item, start), n in live.items():
        col = round((start - first) / step)
        if col >= 0:
            steps[row[item], col] += n
    cums = np.concatenate([np.zeros((len(items), 1), np.int64), steps.cumsum(axis=1)], axis=1)
    ends = np.minimum(np.arange(grid) + per_window, grid)
    windows = cums[:, ends] - cums[:, :grid]
    names = np.asarray(items, dtype=object)
    tops: dict[float, list[Counted]] = {}
    for col in range(grid):
        column = windows[:, col]
        held = np.nonzero(column)[0]
        if not len(held):
            continue
        # Best first: highest count, then item id (rows are in item id order).
        order = held[np.lexsort((held, -column[held]))][: config.top_n]
        tops[first + col * step] = list(zip(names[order].tolist(), column[order].tolist(),
                                            strict=True))  # fmt: skip
    return tops


def merge_tops(tops: Iterable[Mapping[float, list[Counted]]], n: int) -> dict[float, list[Counted]]:
    """Window start -> the top ``n`` over every partition's top items (disjoint items)."""
    merged: dict[float, list[Counted]] = {}
    for top in tops:
        for start, items in top.items():
            merged.setdefault(start, []).extend(items)
    return {start: _top(items, n) for start, items in merged.items()}


def _top(items: list[Counted], n: int) -> list[Counted]:
    return sorted(items, key=lambda ic: (-ic[1], ic[0]))[:n]
