"""Lag-aware degradation: on past DEGRADE_LAG_S of queue wait, off under half of it or once
caught up (batch or no batch); while on, one update per user per batch (the newest event's),
every event applied, no shadow, no cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from app.features.state import UserFeatureState
from app.inference.batcher import rank_states
from app.inference.scorer import Scorer
from app.pipeline import DictStore
from app.pipeline.degrade import Degradation, caught_up
from app.pipeline.variants import Arms
from app.records import ScoredItem
from tests.support.fakes import FakeScorer
from tests.support.pipeline import ITEMS, NOW, CoreUnderTest, Record, decode_all

MakeRecord = Callable[..., Record]
MakeCore = Callable[..., CoreUnderTest]


def test_it_switches_on_past_the_threshold_and_off_under_half_of_it() -> None:
    d = Degradation(2.0)
    assert [d.observe(w) for w in (1.9, 2.1, 1.5, 1.01, 0.99, 1.5, 2.0)] == [
        False, True, True, True, False, False, False,
    ]  # fmt: skip
    assert not any(Degradation(0.0).observe(w) for w in (0.0, 10.0, 1e6))


def test_caught_up_means_every_owned_partition_known_and_without_lag() -> None:
    assert caught_up({0: 0, 1: 0, 2: 7}, owned=[0, 1])  # partition 2 moved away
    assert not caught_up({0: 0, 1: 3}, owned=[0, 1])
    assert not caught_up({0: 0}, owned=[0, 1])  # partition 1 not fetched or committed yet
    assert caught_up({}, owned=[])  # no partitions: nothing to catch up on


def test_once_caught_up_it_switches_back_without_a_batch() -> None:
    d = Degradation(0.5)
    assert not d.idle(caught_up=True)  # not degraded: nothing to switch
    assert d.observe(30.0)  # a backlog
    assert not d.idle(caught_up=False) and d.active  # still draining
    assert d.idle(caught_up=True) and not d.active  # drained, the input quiet
    assert not d.idle(caught_up=True)
    assert not d.observe(0.3)  # the next batch judges from off: no flap


def aged(record: Record, seconds: float) -> Record:
    return dataclasses.replace(record, timestamp=NOW - seconds)


async def test_a_late_batch_answers_each_users_newest_event_and_applies_every_event(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    calls: list[int] = []

    async def cached(
        scorer: Scorer, states: Sequence[UserFeatureState], k: int
    ) -> list[list[ScoredItem]]:
        calls.append(len(states))  # stands for the prediction cache in front of the model
        return await rank_states(scorer, states, k)

    t, store = core_factory(rank=cached, degrade_lag_s=1.0), DictStore()
    arms = Arms(main=FakeScorer(ITEMS), shadow=FakeScorer(ITEMS, version="3"))
    late = [aged(record_factory(u, i), 3.0) for u, i in (("a", "1"), ("b", "1"), ("a", "2"))]
    result = await t.process(late, store, arms)

    assert [u["event_id"] for u in decode_all(result.outputs)] == [
        "interactions-0-1", "interactions-0-2",
    ]  # fmt: skip
    assert store.states["a"].n_events == 2 and store.states["a"].recent == ("1", "2")
    assert store.states["a"].recommended == ("3", "4", "5")  # as without degradation
    assert result.shadows == [] and calls == []
    assert t.metric("streamrec_degraded") == 1
    assert t.metric("streamrec_coalesced_updates_total") == 1

    # Still over half the threshold: still degraded. Then fresh: every event answered again.
    slower = [aged(record_factory("c", "1"), 0.6), aged(record_factory("c", "2"), 0.6)]
    assert len((await t.process(slower, store, arms)).outputs) == 1
    fresh = [record_factory("a", "3"), record_factory("a", "4")]
    result = await t.process(fresh, store, arms)
    assert len(result.outputs) == 2 and len(result.shadows) == 2 and calls == [2, 2]
    assert t.metric("streamrec_degraded") == 0
    assert t.metric("streamrec_coalesced_updates_total") == 2


async def test_off_by_default_a_late_batch_answers_every_event(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    late = [aged(record_factory("a", i), 3600.0) for i in ("1", "2", "3")]
    result = await t.process(late, store, Arms(main=FakeScorer(ITEMS)))
    assert len(result.outputs) == 3 and t.metric("streamrec_degraded") == 0
