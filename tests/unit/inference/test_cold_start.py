"""Cold start: rows the model cannot read get the trending items they have not seen."""

from __future__ import annotations

from app.features.state import UserFeatureState, state_from_items
from app.inference.cold_start import ColdStart, is_cold
from app.records import ScoredItem

VOCAB = {"1": 1, "2": 2, "3": 3}


def model_answer(*items: str) -> list[ScoredItem]:
    return [ScoredItem(i, 1.0 / n) for n, i in enumerate(items, start=1)]


def test_a_user_is_cold_when_no_recent_item_is_known() -> None:
    assert is_cold(UserFeatureState(), VOCAB)
    assert is_cold(state_from_items(["x", "y"]), VOCAB)
    assert not is_cold(state_from_items(["x", "2"]), VOCAB)


def test_cold_rows_get_trends_minus_seen_and_known_rows_keep_the_model() -> None:
    calls = []

    def trends() -> list[tuple[str, int]]:
        calls.append(1)
        return [("x", 9), ("3", 5), ("2", 4)]

    rows = [(state_from_items(["x"]), 2), (state_from_items(["1"]), 2), (UserFeatureState(), 2)]
    ranked = [model_answer("1", "2"), model_answer("2", "3"), model_answer("1", "2")]
    sources = ColdStart(trends).apply(VOCAB, rows, ranked)
    assert sources == ["trending", "model", "trending"]
    assert ranked[0] == [ScoredItem("3", 5.0), ScoredItem("2", 4.0)]
    assert ranked[1] == model_answer("2", "3")
    assert ranked[2] == [ScoredItem("x", 9.0), ScoredItem("3", 5.0)]
    assert calls == [1]  # the board is read once per batch


def test_too_few_trends_are_topped_up_from_the_model_after_them() -> None:
    ranked = [model_answer("1", "3", "2")]
    ColdStart(lambda: [("3", 2)]).apply(VOCAB, [(UserFeatureState(), 3)], ranked)
    assert ranked[0] == [ScoredItem("3", 2.0), ScoredItem("1", 0.0), ScoredItem("2", 0.0)]


def test_without_trends_a_cold_row_keeps_the_models_prior() -> None:
    ranked = [model_answer("1", "2")]
    assert ColdStart(lambda: []).apply(VOCAB, [(UserFeatureState(), 2)], ranked) == ["popularity"]
    assert ColdStart().apply(VOCAB, [(UserFeatureState(), 2)], ranked) == ["popularity"]
    assert ranked[0] == model_answer("1", "2")
