"""EASE: rows are windows of consecutive items, and a user's items count by their age."""

from __future__ import annotations

import numpy as np

from app.training import ease


def test_windows_overlap_and_cover_every_item() -> None:
    seq = [str(i) for i in range(45)]
    rows = ease.windows([seq, ["a", "b"], []], size=40, stride=20)
    assert rows[0] == seq[:40] and rows[1] == seq[20:]
    assert rows[2:] == [["a", "b"], []]


def test_items_rated_together_weigh_more_than_items_far_apart_in_a_timeline() -> None:
    vocab = {str(i): i for i in range(1, 9)}
    # Every user rates 1 and 2 together, then 3 much later; windows of 2 never hold 1 and 3.
    timelines = [["1", "2", "5", "6", "3"], ["2", "1", "7", "8", "3"]] * 20
    whole = ease.fit(timelines, vocab, l2=1.0)
    windowed = ease.fit(ease.windows(timelines, size=2, stride=1), vocab, l2=1.0)
    # One row per user: 1 -> 2 and 1 -> 3 alike (0.33 each).
    assert abs(whole[1, 2] - whole[1, 3]) < 1e-6
    # Windows: 1 -> 2 strong (0.82), 1 -> 3 only through the ridge's coupling (0.07).
    assert windowed[1, 2] > 0.5 > 0.1 > windowed[1, 3]


def test_an_item_counts_fully_when_recent_and_a_floor_long_after() -> None:
    w = ease.input_weights(np.array([0.0, ease.AGE_SCALE_S, 1e9], dtype=np.float32))
    assert w[0] == 1.0 and w[0] > w[1] > w[2]
    assert abs(float(w[2]) - ease.AGE_FLOOR) < 1e-6
