"""The batch core with a dict store and fake scorers: no broker, no Faust, no event loop tricks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import msgspec
import pytest

from app.features.state import UserFeatureState
from app.pipeline import BatchResult, DictStore
from app.pipeline.variants import Arms
from app.records import ScoredItem
from tests.support.fakes import FailingScorer, FakeScorer
from tests.support.pipeline import ITEMS, NOW, CoreUnderTest, Record, arms, decode_all

MakeRecord = Callable[..., Record]
MakeCore = Callable[..., CoreUnderTest]


def latest_of(result: BatchResult, user: str) -> dict[str, object]:
    (update,) = [u for u in result.latest if u.user_id == user]
    decoded: dict[str, object] = msgspec.json.decode(update.value)
    assert decoded["event_id"] == f"{update.record.topic}-{update.partition}-{update.offset}"
    return decoded


async def test_every_event_gets_an_update_and_the_store_one_write_per_user(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    batch = [record_factory("a", "1"), record_factory("b", "5"), record_factory("a", "2")]
    result = await t.process(batch, store, arms())

    updates = decode_all(result.outputs)
    assert [(u["user_id"], [i["item_id"] for i in u["items"]]) for u in updates] == [
        ("a", ["2", "3", "4"]), ("b", ["6", "7", "8"]), ("a", ["3", "4", "5"]),
    ]  # fmt: skip
    assert {u["variant"] for u in updates} == {"main"} and result.dead_letters == []
    assert result.writes == 2
    assert store.states["a"].recent == ("1", "2") and store.states["a"].n_events == 2
    assert store.states["a"].recommended == ("3", "4", "5")
    assert latest_of(result, "a")["event_id"] == "interactions-0-2"
    assert t.metric("streamrec_recommendations_out_total") == 3
    assert t.metric("streamrec_events_in_total") == 3


async def test_a_replay_after_a_crash_is_emitted_again_but_not_applied_twice(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    first = [record_factory("a", "1"), record_factory("a", "2")]
    await t.process(first, store, arms())
    before = store.states["a"]
    # Redelivered after a crash (same partition and offsets), then a new event.
    again = [*first, record_factory("a", "3")]
    result = await t.process(again, store, arms())

    assert [u["event_id"] for u in decode_all(result.outputs)] == [
        "interactions-0-0", "interactions-0-1", "interactions-0-2",
    ]  # fmt: skip
    assert store.states["a"].n_events == before.n_events + 1
    assert store.states["a"].recent == ("1", "2", "3")
    assert latest_of(result, "a")["event_id"] == "interactions-0-2"
    # Replays are not judged again for prequential quality.
    assert result.quality["main"].events == 1


async def test_a_replay_alone_writes_nothing(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    event = record_factory("a", "1")
    await t.process([event], store, arms())
    result = await t.process([event], store, arms())
    assert len(result.outputs) == 1 and result.writes == 0 and result.latest == []


async def test_a_repeated_event_id_goes_to_the_dlq_as_duplicate_event(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    batch = [record_factory("a", "1", event_id="e1"), record_factory("a", "2", event_id="e1")]
    result = await t.process(batch, store, arms())
    assert len(result.outputs) == 1
    ((reason, (key, value, headers)),) = result.dead_letters
    assert reason == "duplicate_event" and key == b"a" and value == batch[1].value
    assert dict(headers)["streamrec.error.reason"] == b"duplicate_event"
    assert store.states["a"].n_events == 1
    assert t.metric("streamrec_dead_letters_total", reason="duplicate_event") == 1


async def test_bad_records_go_to_the_dlq_with_their_reason_and_the_rest_is_served(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t = core_factory()
    batch = [
        record_factory("a", value=b"not json"),
        record_factory("a", "1"),
        record_factory("a", value=b'{"user_id": "b", "item_id": "1", "event": "view"}'),
    ]
    result = await t.process(batch, DictStore(), arms())
    assert [d.reason for d in result.dead_letters] == ["invalid_json", "key_mismatch"]
    assert len(result.outputs) == 1


async def test_a_failing_canary_gives_its_users_to_main(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t = core_factory()
    canary = FailingScorer(ITEMS, version="2")
    result = await t.process(
        [record_factory("a", "1"), record_factory("b", "1")],
        DictStore(),
        arms(canary=canary, canary_percent=100.0),
    )
    updates = decode_all(result.outputs)
    assert [(u["variant"], u["model_version"]) for u in updates] == [("main", "1")] * 2
    assert t.metric("streamrec_variant_errors_total", variant="canary") == 1
    assert t.metric("streamrec_variant_updates_total", variant="main") == 2


async def test_canary_users_are_scored_by_the_canary(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t = core_factory()
    result = await t.process(
        [record_factory("a", "1")],
        DictStore(),
        arms(canary=FakeScorer(ITEMS, version="2"), canary_percent=100.0),
    )
    (update,) = decode_all(result.outputs)
    assert (update["variant"], update["model_version"]) == ("canary", "2")


async def test_the_shadow_is_scored_apart_and_its_failure_costs_only_shadow_updates(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    result = await t.process(
        [record_factory("a", "1")], store, arms(shadow=FakeScorer(ITEMS, version="3"))
    )
    (shadow,) = decode_all(result.shadows)
    assert (shadow["variant"], shadow["model_version"]) == ("shadow", "3")
    assert store.states["a"].shadow_recommended == ("2", "3", "4")

    failing = arms(shadow=FailingScorer(ITEMS, version="3"))
    result = await t.process([record_factory("a", "2")], store, failing)
    assert result.shadows == [] and len(result.outputs) == 1
    assert t.metric("streamrec_variant_errors_total", variant="shadow") == 1


async def test_coalescing_sends_one_update_per_user_and_still_applies_every_event(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(coalesce=True), DictStore()
    batch = [record_factory("a", "1"), record_factory("b", "1"), record_factory("a", "2")]
    result = await t.process(batch, store, arms())
    assert [u["event_id"] for u in decode_all(result.outputs)] == [
        "interactions-0-1", "interactions-0-2",
    ]  # fmt: skip
    assert store.states["a"].n_events == 2


async def test_prequential_quality_is_counted_per_arm(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    store.states["a"] = UserFeatureState(recommended=("5", "6"), shadow_recommended=("9",))
    shadow = arms(shadow=FakeScorer(ITEMS, version="3"))
    # a's first event hits main's last update (5) and misses the shadow's (9); the second
    # event (3) is judged against the first's updates: main showed 6, 7, 8; so did the shadow.
    batch = [record_factory("a", "5"), record_factory("a", "7")]
    result = await t.process(batch, store, shadow)
    assert {v: (q.events, q.hits) for v, q in result.quality.items()} == {
        "main": (2, 2), "shadow": (2, 1),
    }  # fmt: skip
    assert t.metric("streamrec_prequential_hits_total", variant="shadow") == 1
    # A new user has no earlier update: nothing to judge.
    result = await t.process([record_factory("new", "1")], store, arms())
    assert result.quality == {}


async def test_a_transient_failure_is_retried_and_nothing_is_lost(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    calls = 0

    async def flaky(
        scorer: FakeScorer, states: Sequence[UserFeatureState], k: int
    ) -> list[list[ScoredItem]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("transient")
        from app.inference.batcher import rank_states

        return await rank_states(scorer, states, k)

    t, store = core_factory(rank=flaky), DictStore()
    result = await t.process([record_factory("a", "1")], store, arms())
    assert len(result.outputs) == 1 and result.dead_letters == []
    assert t.sleeps == [0.5]
    assert t.metric("streamrec_batch_failures_total", outcome="retried") == 1
    assert store.states["a"].n_events == 1


async def test_a_batch_that_keeps_failing_goes_to_the_dlq_keeping_earlier_reasons(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(batch_retries=2), DictStore()
    batch = [record_factory("a", value=b"{"), record_factory("a", "1"), record_factory("b", "2")]
    failing = Arms(main=FailingScorer(ITEMS))
    result = await t.process(batch, store, failing)

    assert result.outputs == [] and store.states == {}
    assert [d.reason for d in result.dead_letters] == [
        "invalid_json", "processing_error", "processing_error",
    ]  # fmt: skip
    assert [d.record[1] for d in result.dead_letters] == [r.value for r in batch]
    headers = dict(result.dead_letters[1].record[2])
    assert headers["streamrec.error.message"] == b"fake/1 cannot score"
    assert t.sleeps == [0.5, 1.0]
    assert t.metric("streamrec_batch_failures_total", outcome="retried") == 2
    assert t.metric("streamrec_batch_failures_total", outcome="dead_lettered") == 1
    assert t.metric("streamrec_dead_letters_total", reason="processing_error") == 2


async def test_an_error_every_batch_meets_logs_one_traceback_and_no_line_per_event(
    record_factory: MakeRecord, core_factory: MakeCore, caplog: pytest.LogCaptureFixture
) -> None:
    t, store = core_factory(batch_retries=2), DictStore()
    failing = Arms(main=FailingScorer(ITEMS))
    with caplog.at_level(logging.WARNING, logger="app.pipeline"):
        for _ in range(2):
            batch = [record_factory(f"u{n}", "1") for n in range(50)]
            result = await t.process(batch, store, failing)
            assert len(result.dead_letters) == 50  # each event once, none dropped

    lines = [r for r in caplog.records if r.name.startswith("app.pipeline")]
    assert len(lines) == 6  # one per attempt, three attempts per batch
    assert sum(r.exc_info is not None for r in lines) == 1
    assert "failed again (RuntimeError: fake/1 cannot score)" in lines[-1].getMessage()
    assert "dead-letter topic" in lines[-1].getMessage()


async def test_per_event_fields_are_kept_only_while_a_served_model_reads_them(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t, store = core_factory(), DictStore()
    await t.process([record_factory("a", "1", rating=4)], store, arms())
    assert (store.states["a"].recent_ratings, store.states["a"].recent_ts) == ((), ())
    rated = Arms(main=FakeScorer(ITEMS, reads_ratings=True))
    await t.process([record_factory("a", "2", rating=5)], store, rated)
    state = store.states["a"]
    assert state.recent == ("1", "2") and state.recent_ratings == (5,)
    assert state.recent_events == "v" and len(state.recent_ts) == 1
    # Back to a model that reads items only: the fields go, none is left out of line.
    await t.process([record_factory("a", "3")], store, arms())
    assert store.states["a"].recent_ratings == () and store.states["a"].recent_events == ""


async def test_a_user_the_model_cannot_read_gets_the_trending_items_not_seen(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    trends = [("5", 9), ("new", 4), ("7", 2)]
    t = core_factory(trends=lambda: trends)
    batch = [record_factory("cold", "new"), record_factory("known", "1")]
    cold, known = decode_all((await t.process(batch, DictStore(), arms())).outputs)
    # "new" (unknown to the model) was seen; the third place is topped up from the model.
    assert [(i["item_id"], i["score"]) for i in cold["items"]] == [("5", 9.0), ("7", 2.0),
                                                                   ("1", 0.0)]  # fmt: skip
    assert cold["source"] == "trending"
    assert known["source"] == "model" and [i["item_id"] for i in known["items"]] == ["2", "3", "4"]


async def test_before_any_trend_a_cold_user_gets_the_models_prior_and_says_so(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    t = core_factory(trends=lambda: [])
    (update,) = decode_all((await t.process([record_factory("c", "new")], DictStore(),
                                                 arms())).outputs)  # fmt: skip
    assert update["source"] == "popularity" and len(update["items"]) == 3


async def test_synthetic_events_are_served_but_left_out_of_trending_and_quality(
    record_factory: MakeRecord, core_factory: MakeCore
) -> None:
    """verify's traffic (the ``streamrec.synthetic`` header) goes the whole serving path, but
    neither reaches the trending count (nor moves its event-time windows) nor is judged."""
    t, store = core_factory(trending=True), DictStore()
    store.states["real"] = UserFeatureState(recommended=("5", "6"))
    store.states["verify-u0"] = UserFeatureState(recommended=("5", "6"))
    mark = (("streamrec.synthetic", b"verify"),)
    batch = [
        record_factory("real", "5", ts=NOW - 3600),
        record_factory("verify-u0", "5", headers=mark),
        record_factory("verify-u0", "7", headers=mark),
    ]
    result = await t.process(batch, store, arms())

    assert [u["user_id"] for u in decode_all(result.outputs)] == ["real", "verify-u0", "verify-u0"]
    assert store.states["verify-u0"].recent == ("5", "7") and result.writes == 2
    assert {u.user_id for u in result.latest} == {"real", "verify-u0"}
    # Only the real event is counted, at its own (older) time: verify's "now" moves nothing.
    assert [(k, msgspec.json.decode(v)) for k, v, _ in result.by_item] == [(b"5", [NOW - 3600])]
    assert {v: (q.events, q.hits) for v, q in result.quality.items()} == {"main": (1, 1)}
    assert t.metric("streamrec_prequential_events_total", variant="main") == 1
    assert t.metric("streamrec_recommendations_out_total") == 3
