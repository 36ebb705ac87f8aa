"""The trending board: every worker's reports merged, the newest claim of a partition wins."""

from __future__ import annotations

import msgspec

from app.trending.board import TrendingBoard, TrendingReport
from app.trending.windows import Counted, TrendingConfig

CONFIG = TrendingConfig(window_s=3600, step_s=600, retention_s=7200, grace_s=0.0, top_n=3)


def report(worker: str, ts: float, partitions: dict[int, dict[float, list[Counted]]]) -> bytes:
    return msgspec.json.encode(TrendingReport(worker, ts, partitions))


def step0(top: list[Counted]) -> dict[float, list[Counted]]:
    """A partition's windows when all its events fell in the step [0, 600): the six hopping
    windows holding that step, the current one starting at -3000."""
    return {float(s): top for s in range(-3000, 600, 600)}


def test_reports_of_two_workers_merge_into_one_list() -> None:
    board = TrendingBoard(CONFIG, partitions=2)
    board.take(report("w1", 1.0, {0: step0([("a", 5), ("b", 1)])}))
    board.take(report("w2", 1.0, {1: step0([("c", 3), ("d", 2)])}))
    assert board.items() == [("a", 5), ("c", 3), ("d", 2)]
    assert board.items(n=1) == [("a", 5)]
    view = board.view(None, 2)
    assert view is not None
    assert view["items"] == [{"item_id": "a", "count": 5}, {"item_id": "c", "count": 3}]
    assert view["partitions"] == {"reported": 2, "of": 2}


def test_a_moved_partition_counts_once_from_its_newest_claim() -> None:
    board = TrendingBoard(CONFIG, partitions=1)
    board.take(report("old-owner", 1.0, {0: step0([("a", 5)])}))
    board.take(report("new-owner", 2.0, {0: step0([("a", 7)])}))
    assert board.items() == [("a", 7)]
    # An older report of the worker that left changes nothing.
    board.take(report("old-owner", 1.5, {0: step0([("a", 6)])}))
    assert board.items() == [("a", 7)]


def test_the_current_window_is_the_last_full_window() -> None:
    board = TrendingBoard(CONFIG, partitions=1)
    windows = {float(s): [("x", 1)] for s in range(-3000, 7800, 600)}
    windows[7200.0 - 3600 + 600] = [("now", 9)]
    board.take(report("w", 1.0, {0: windows}))
    assert board.current() == 4200.0
    assert board.items() == [("now", 9)]
    # Windows past the retention behind the newest are not shown.
    assert min(board.windows()) > 7200.0 + 600 - 7200 - 3600


def test_an_unknown_window_and_a_bad_record_are_handled() -> None:
    board = TrendingBoard(CONFIG, partitions=1)
    assert board.items() == []
    assert board.view(None, 3) == {
        "window": None, "items": [], "windows": [], "window_s": 3600, "step_s": 600,
        "partitions": {"reported": 0, "of": 1},
    }  # fmt: skip
    board.take(b"not json")
    board.take(None)
    board.take(report("w", 1.0, {0: step0([("a", 1)])}))
    assert board.view(600.0, 3) is None
    assert board.view(-3000.0, 3) is not None
