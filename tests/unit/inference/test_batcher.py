"""Merging states into one model input and splitting scores back into top-K lists."""

from __future__ import annotations

import numpy as np

from app.features.state import UserFeatureState
from app.inference.batcher import merge, split_top_k, top_k
from tests.support.fakes import FakeScorer


def test_top_k_masks_seen_and_padding_and_sorts() -> None:
    scores = np.array([[9.0, 1.0, 5.0, 3.0, 4.0], [9.0, 2.0, 2.0, 7.0, 2.0]], dtype=np.float32)
    idx, vals = top_k(scores, np.array([0]), np.array([2]), k=3)
    assert idx.tolist() == [[4, 3, 1], [3, 1, 2]]  # equal scores: lower column first
    assert vals[0].tolist() == [4.0, 3.0, 1.0]


def test_top_k_does_not_modify_its_input() -> None:
    scores = np.ones((1, 4), dtype=np.float32)
    top_k(scores, np.array([0]), np.array([1]), k=2)
    assert scores.tolist() == [[1.0, 1.0, 1.0, 1.0]]


def test_split_drops_masked_items_when_few_remain() -> None:
    scorer = FakeScorer(["a", "b", "c"])
    state = UserFeatureState(recent=("a", "b"), seen=("a", "b"))
    batch = merge([state], scorer)
    ranked = split_top_k(scorer.score(batch.inputs), batch, scorer, k=10)
    assert [i.item_id for i in ranked[0]] == ["c"]


def test_merge_and_split_keep_rows_in_order() -> None:
    scorer = FakeScorer(["a", "b", "c", "d"])
    states = [
        UserFeatureState(recent=("a",), seen=("a",)),
        UserFeatureState(recent=("d",), seen=("d",)),
    ]
    batch = merge(states, scorer)
    assert batch.inputs["history"].tolist() == [[0, 1], [0, 4]]
    ranked = split_top_k(scorer.score(batch.inputs), batch, scorer, k=2)
    # FakeScorer prefers items right after the user's last item.
    assert [i.item_id for i in ranked[0]] == ["b", "c"]
    assert [i.item_id for i in ranked[1]] == ["a", "b"]
    assert all(i.item_id != "a" for i in ranked[0])


def test_ties_at_the_cut_go_to_the_lower_column() -> None:
    scores = np.array([[0.0, 1.0, 5.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    for k in (2, 3, 4):
        idx, _ = top_k(scores, np.array([], dtype=np.int64), np.array([], dtype=np.int64), k)
        assert idx.tolist() == [[2, 1, 3, 4][:k]]
