"""Hopping event-time windows, each partition's top items, and their merge (pure)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.trending.windows import TrendingConfig, Watermarks, merge_tops, window_tops

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
    # A float like Faust's window starts: the table key is JSON, where 7200 != 7200.0.
    assert isinstance(c.bucket(7_200), float)


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


def test_a_partitions_windows_are_sums_of_its_steps_ordered_by_count_then_item() -> None:
    c = config(window_s=1800, retention_s=3 * HOUR, top_n=2)  # 3 steps a window
    steps = {("b", 0.0): 5, ("a", 0.0): 5, ("c", 600.0): 9, ("a", 1200.0): 1, ("e", 600.0): 0}
    assert window_tops(steps, c) == {
        -1200.0: [("a", 5), ("b", 5)],
        -600.0: [("c", 9), ("a", 5)],
        0.0: [("c", 9), ("a", 6)],
        600.0: [("c", 9), ("a", 1)],
        1200.0: [("a", 1)],
    }


def test_window_tops_equal_a_direct_count_of_events() -> None:
    rng = random.Random(7)
    c = config(window_s=3000, step_s=600, retention_s=2 * HOUR, top_n=4)
    events = [(str(rng.randrange(12)), rng.uniform(0, 5 * HOUR)) for _ in range(3000)]
    steps = Counter((item, c.bucket(ts)) for item, ts in events)
    newest = max(c.bucket(ts) for _, ts in events)
    expected = {}
    for k in range(-5, int(newest // 600) + 1):
        start = k * 600.0
        if not c.retained(start, newest):
            continue
        counts = Counter(item for item, ts in events if start <= ts < start + 3000)
        expected[start] = sorted(counts.items(), key=lambda ic: (-ic[1], ic[0]))[:4]
    assert window_tops(steps, c) == expected


def test_the_oldest_kept_window_is_the_first_past_the_retention() -> None:
    c = config()  # window 1 h, step 10 min, retention 3 h
    newest = 20_400.0
    oldest = c.oldest_retained(newest)
    assert c.retained(oldest, newest) and not c.retained(oldest - 600, newest)


def test_merging_partitions_tops_gives_the_global_top() -> None:
    # Items live in exactly one partition, so the global top N is among the partitions' top N.
    events = {"p0": ["1"] * 7 + ["2"] * 3 + ["5"], "p1": ["3"] * 5 + ["4"] * 4 + ["6"] * 2}
    c = config(top_n=3, window_s=600)
    tops = [window_tops({(i, 0.0): n for i, n in Counter(e).items()}, c) for e in events.values()]
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
