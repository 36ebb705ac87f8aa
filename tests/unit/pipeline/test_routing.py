"""Records on a partition their key does not belong to: moved, unchanged and in order, to
their own partition, not applied where they arrived; counted by the producer's partitioner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from app.kafka.partitioners import PARTITIONERS, KeyPartitioner
from app.pipeline import DictStore
from app.pipeline.routing import MOVED_FROM, KeyRouting
from tests.support.pipeline import CoreUnderTest, Record, arms, decode_all

N = 8
MURMUR2 = KeyPartitioner("murmur2")


def home(user: str) -> int:
    return PARTITIONERS["murmur2"](user.encode(), N)


def crc_misrouted_users(count: int) -> list[str]:
    """Users CRC32 (confluent-kafka's default) puts elsewhere than murmur2."""
    users = (f"user-{n}" for n in range(10_000))
    return [u for u in users if PARTITIONERS["crc32"](u.encode(), N) != home(u)][:count]


async def test_records_at_home_are_processed_and_strays_are_moved_untouched_in_order(
    record_factory: Callable[..., Record], core_factory: Callable[..., CoreUnderTest]
) -> None:
    t, store = core_factory(routing=KeyRouting(MURMUR2, N)), DictStore()
    stray, local = crc_misrouted_users(2)
    stray_at = PARTITIONERS["crc32"](stray.encode(), N)
    batch = [
        record_factory(stray, "1", partition=stray_at),
        record_factory(local, "5", partition=home(local)),
        record_factory(stray, "2", partition=stray_at),
    ]
    batch[0] = replace(batch[0], headers=(("trace", b"t1"),))
    result = await t.process(batch, store, arms())

    assert [u["user_id"] for u in decode_all(result.outputs)] == [local]
    assert set(store.states) == {local}  # the stray's events are not applied here
    assert [m.record[:2] for m in result.moved] == [(r.key, r.value) for r in (batch[0], batch[2])]
    assert result.moved[0].record[2] == [("trace", b"t1"), (MOVED_FROM, f"{stray_at}/0".encode())]
    assert result.moved[0].timestamp_ms == int(batch[0].timestamp * 1000)
    assert t.metric("streamrec_misrouted_records_total", partitioner="crc32") == 2
    assert t.metric("streamrec_events_in_total") == 1


async def test_a_moved_record_is_processed_where_it_lands_and_a_batch_of_strays_only_moves(
    record_factory: Callable[..., Record], core_factory: Callable[..., CoreUnderTest]
) -> None:
    t, store = core_factory(routing=KeyRouting(MURMUR2, N)), DictStore()
    (stray,) = crc_misrouted_users(1)
    elsewhere = (home(stray) + 1) % N
    only_strays = [record_factory(stray, "1", partition=elsewhere)]
    result = await t.process(only_strays, store, arms())
    assert len(result.moved) == 1 and result.outputs == [] and store.states == {}

    # Moved once already (a worker that disagrees about the partitioner): processed here.
    again = replace(only_strays[0], headers=((MOVED_FROM, b"3/0"),))
    result = await t.process([again], store, arms())
    assert result.moved == [] and len(result.outputs) == 1 and stray in store.states


async def test_without_routing_nothing_is_moved(
    record_factory: Callable[..., Record], core_factory: Callable[..., CoreUnderTest]
) -> None:
    t, store = core_factory(), DictStore()
    (stray,) = crc_misrouted_users(1)
    result = await t.process([record_factory(stray, "1", partition=7)], store, arms())
    assert result.moved == [] and len(result.outputs) == 1
