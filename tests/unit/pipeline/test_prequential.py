"""Prequential judging: each event against the update its user was shown last, per arm."""

from __future__ import annotations

from app.features.state import UserFeatureState
from app.pipeline.prequential import Prequential
from app.records import ScoredItem


def items(*ids: str) -> list[ScoredItem]:
    return [ScoredItem(i, 1.0) for i in ids]


def counts(p: Prequential) -> dict[str, tuple[int, int]]:
    return {variant: (q.events, q.hits) for variant, q in p.quality.items()}


def test_an_event_is_judged_against_the_stored_updates_of_its_arm_and_the_shadow() -> None:
    p = Prequential()
    p.remember("a", UserFeatureState(recommended=("5", "6"), shadow_recommended=("9",)))
    p.judge("a", "5", {"a": "canary"}, shadow=True)
    assert counts(p) == {"canary": (1, 1), "shadow": (1, 0)}


def test_the_shadow_is_judged_only_while_it_runs() -> None:
    p = Prequential()
    p.remember("a", UserFeatureState(recommended=("5",), shadow_recommended=("5",)))
    p.judge("a", "5", {"a": "main"}, shadow=False)
    assert counts(p) == {"main": (1, 1)}


def test_a_user_shown_nothing_yet_is_not_judged() -> None:
    p = Prequential()
    p.remember("new", UserFeatureState())
    p.judge("new", "1", {}, shadow=True)  # no arm lookup either: nothing to judge
    assert p.quality == {}


def test_a_later_event_of_the_batch_is_judged_against_the_update_shown_for_the_earlier() -> None:
    p = Prequential()
    p.remember("a", UserFeatureState())
    p.judge("a", "1", {"a": "main"}, shadow=True)
    p.show("a", items("2", "3"))
    p.show_shadow("a", items("7"))
    p.judge("a", "3", {"a": "main"}, shadow=True)
    assert counts(p) == {"main": (1, 1), "shadow": (1, 0)}
    assert (p.shown["a"], p.shadow_shown["a"]) == (("2", "3"), ("7",))
