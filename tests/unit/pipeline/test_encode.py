"""A batch's ranked rows as updates in input order, latest updates and state writes."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from app.features.state import UserFeatureState
from app.pipeline import BatchResult, DictStore
from app.pipeline.apply import Applied, apply_events
from app.pipeline.arms import Answer, Ranked
from app.pipeline.decode import decode_record
from app.pipeline.encode import STATE_HEADER, UpdateEncoder
from app.records import ScoredItem
from app.worker.codecs import StructCodec
from tests.support.fakes import FakeScorer
from tests.support.pipeline import ITEMS, NOW, Record, arms

MakeRecord = Callable[..., Record]


def applied_batch(records: list[Record], store: DictStore | None = None) -> Applied:
    decoded = [
        (n, r, decode_record(r, max_bytes=65536, max_future_skew_s=60))
        for n, r in enumerate(records)
    ]
    return apply_events(decoded, store or DictStore(), {}, event_fields=False)


def items(*ids: str) -> list[ScoredItem]:
    return [ScoredItem(i, 1.0) for i in ids]


def test_updates_go_out_in_input_order_and_each_user_gets_one_write_and_one_latest(
    record_factory: MakeRecord,
) -> None:
    batch = [record_factory("a", "1"), record_factory("b", "5"), record_factory("a", "2")]
    main, canary = arms().main, FakeScorer(ITEMS, version="2")
    ranked: dict[int, Ranked] = {
        0: ("main", main, items("2"), "model"),
        1: ("canary", canary, items("6"), "trending"),
        2: ("main", main, items("3"), "model"),
    }
    applied, result = applied_batch(batch), BatchResult()
    writes = UpdateEncoder().emit(applied, ranked, {}, arms(), result, now=NOW)

    updates = [msgspec.json.decode(value) for _, value, _ in result.outputs]
    assert [(u["user_id"], u["variant"], u["model_version"], u["source"]) for u in updates] == [
        ("a", "main", "1", "model"), ("b", "canary", "2", "trending"), ("a", "main", "1", "model"),
    ]  # fmt: skip
    assert updates[2] == {
        "user_id": "a", "items": [{"item_id": "3", "score": 1.0}], "model": "fake",
        "model_version": "1", "variant": "main", "event_id": "interactions-0-2",
        "event_ts": batch[2].timestamp, "emitted_ts": NOW, "source": "model",
    }  # fmt: skip
    assert [k for k, _, _ in result.outputs] == [b"a", b"b", b"a"]
    assert result.updates_by_variant == {"main": 2, "canary": 1}
    assert result.latencies == [NOW - r.timestamp for r in batch]
    assert [(w.user_id, w.record.offset, w.state.recommended) for w in writes] == [
        ("a", 2, ("3",)), ("b", 1, ("6",)),
    ]  # fmt: skip
    assert [(u.user_id, u.offset) for u in result.latest] == [("a", 2), ("b", 1)]
    assert result.latest[0].value == result.outputs[2][1]


def test_a_coalesced_event_gets_no_update_and_the_shadow_its_own(
    record_factory: MakeRecord,
) -> None:
    batch = [record_factory("a", "1"), record_factory("a", "2")]
    shadow = FakeScorer(ITEMS, version="3")
    with_shadow = arms(shadow=shadow)
    ranked: dict[int, Ranked] = {1: ("main", with_shadow.main, items("3"), "model")}
    shadow_ranked: dict[int, Answer] = {1: (items("9"), "model")}
    applied, result = applied_batch(batch), BatchResult()
    (write,) = UpdateEncoder().emit(applied, ranked, shadow_ranked, with_shadow, result, NOW)

    assert len(result.outputs) == 1 and len(result.shadows) == 1
    (shadow_update,) = [msgspec.json.decode(v) for _, v, _ in result.shadows]
    assert (shadow_update["variant"], shadow_update["model_version"]) == ("shadow", "3")
    assert result.updates_by_variant == {"main": 1, "shadow": 1}
    assert (write.state.recommended, write.state.shadow_recommended) == (("3",), ("9",))


def test_a_replay_is_answered_again_but_neither_written_nor_latest(
    record_factory: MakeRecord,
) -> None:
    store = DictStore()
    first = record_factory("a", "1")
    once: dict[int, Ranked] = {0: ("main", arms().main, items("2"), "model")}
    store.write_many(UpdateEncoder().emit(applied_batch([first], store), once, {}, arms(),
                                          BatchResult(), NOW))  # fmt: skip

    applied, result = applied_batch([first], store), BatchResult()
    writes = UpdateEncoder().emit(
        applied, {0: ("main", arms().main, items("4"), "model")}, {}, arms(), result, NOW
    )
    assert applied.replays == {0}
    assert len(result.outputs) == 1 and writes == [] and result.latest == []
    assert result.quality == {}  # a replay is not judged again


def test_with_a_state_header_each_users_last_update_carries_the_state_written(
    record_factory: MakeRecord,
) -> None:
    codec = StructCodec(UserFeatureState)
    batch = [record_factory("a", "1"), record_factory("b", "5"), record_factory("a", "2")]
    main = arms().main
    ranked: dict[int, Ranked] = {n: ("main", main, items("7"), "model") for n in range(3)}
    result = BatchResult()
    writes = UpdateEncoder(codec.dumps).emit(applied_batch(batch), ranked, {}, arms(), result, NOW)

    headers = [h for _, _, h in result.outputs]
    assert headers[0] == []  # a's earlier update: its last one carries the state
    written = {w.user_id: w.state for w in writes}
    for n, user in ((1, "b"), (2, "a")):
        [(name, raw)] = headers[n]
        assert name == STATE_HEADER and codec.loads(raw) == written[user]
    assert codec.loads(headers[2][0][1]).recent == ("1", "2")


def test_a_users_replayed_update_carries_the_stored_state_again(
    record_factory: MakeRecord,
) -> None:
    # Its update may be the user's last record a compacted topic keeps.
    codec, store = StructCodec(UserFeatureState), DictStore()
    first = record_factory("a", "1")
    once: dict[int, Ranked] = {0: ("main", arms().main, items("2"), "model")}
    store.write_many(UpdateEncoder().emit(applied_batch([first], store), once, {}, arms(),
                                          BatchResult(), NOW))  # fmt: skip

    result = BatchResult()
    writes = UpdateEncoder(codec.dumps).emit(
        applied_batch([first], store), once, {}, arms(), result, NOW
    )
    [(_, _, [(name, raw)])] = result.outputs
    assert writes == [] and name == STATE_HEADER and codec.loads(raw) == store.states["a"]


def test_without_a_state_header_updates_carry_no_headers(record_factory: MakeRecord) -> None:
    ranked: dict[int, Ranked] = {0: ("main", arms().main, items("2"), "model")}
    result = BatchResult()
    UpdateEncoder().emit(applied_batch([record_factory("a", "1")]), ranked, {}, arms(), result, NOW)
    assert [h for _, _, h in result.outputs] == [[]]
