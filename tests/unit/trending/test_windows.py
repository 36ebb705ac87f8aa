"""Hopping event-time windows, each partition's top items, and their merge (pure)."""

from __future__ import annotations

from collections import Counter

import pytest

from app.trending.windows import TrendingConfig, Watermarks, merge_tops, partition_tops

HOUR = 3600


def config(**overrides: float) -> TrendingConfig:
    fields = {"window_s": HOUR, "step_s": 600, "retention_s": 3 * HOUR, "grace_s": 600.0,
              "top_n": 3} | overrides  # fmt: skip
    return TrendingConfig(**fields)  # type: ignore[arg-type]


def test_an_event_falls_in_the_step_it_belongs_to() -> None:
    c = config()
    assert c.bucket(7_250.0) == 7_200.0
    assert c.bucket(7_200.0) == 7_200.0
    assert c.bucket(7_199.9) == 6_600.0


def test_the_current_window_ends_with_the_newest_step() -> None:
    c = config()
    # The newest window start is the newest step: the current window is the full hour ending
    # with that step.
    assert c.current(7_200.0) == 7_200.0 - HOUR + 600


def test_windows_behind_the_retention_are_dropped() -> None:
    c = config()
    newest = 20_000.0
    # Kept: windows ending after (newest step's end - retention).
    assert c.retained(newest, newest)
    assert c.retained(newest + 600 - 3 * HOUR - HOUR + 1, newest)
    assert not c.retained(newest + 600 - 3 * HOUR - HOUR, newest)


def test_a_partitions_top_items_per_window_order_by_count_then_item() -> None:
    c = config(top_n=2)
    counts = [("b", 0.0, 5), ("a", 0.0, 5), ("c", 0.0, 9), ("d", 600.0, 1), ("e", 600.0, 0)]
    assert partition_tops(counts, c) == {0.0: [("c", 9), ("a", 5)], 600.0: [("d", 1)]}


def test_merging_partitions_tops_gives_the_global_top() -> None:
    # Items live in exactly one partition, so the global top N is among the partitions' top N.
    events = {"p0": ["1"] * 7 + ["2"] * 3 + ["5"], "p1": ["3"] * 5 + ["4"] * 4 + ["6"] * 2}
    c = config(top_n=3)
    tops = [
        partition_tops([(i, 0.0, n) for i, n in Counter(e).items()], c) for e in events.values()
    ]
    every = Counter(events["p0"] + events["p1"])
    expected = sorted(every.items(), key=lambda ic: (-ic[1], ic[0]))[:3]
    assert merge_tops(tops, 3) == {0.0: expected}


@pytest.mark.parametrize(("ts", "admitted"), [(1_000.0, True), (400.0, True), (399.0, False)])
def test_an_event_further_behind_than_the_grace_is_late(ts: float, admitted: bool) -> None:
    marks = Watermarks(grace_s=600.0)
    assert marks.admit(0, 1_000.0)
    assert marks.admit(0, ts) is admitted
    assert marks.admit(1, 0.0)  # each partition has its own watermark


def test_a_late_event_does_not_move_the_watermark_back() -> None:
    marks = Watermarks(grace_s=10.0)
    assert marks.admit(0, 100.0)
    assert marks.admit(0, 95.0)
    assert not marks.admit(0, 89.0)
    assert marks.newest[0] == 100.0
