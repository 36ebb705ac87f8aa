"""The bulk path on stand-in objects: batching, the rebalance rules Faust's streams follow,
acks through the consumer, and the fetch loop's bookkeeping (the integration tests run it
inside real workers, under kill -9, rebalances and broker cuts)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.streams import current_event
from faust.types import TP
from mode.utils.queues import FlowControlEvent

from app.worker.faust_compat.bulk import BulkInput, bulk_inputs_of, current_message
from app.worker.faust_compat.consumer import TunedConsumer

P0, P1 = TP("in", 0), TP("in", 1)


class App:
    """What BulkInput reads of a Faust app (weak-referenceable, unlike a SimpleNamespace)."""

    def __init__(self) -> None:
        self.flow_control = FlowControlEvent()
        self.flow_control.resume()
        self.consumer_generation_id = 1
        self.acked: list[int] = []
        self.sensed: list[tuple[str, int]] = []
        self.consumer = SimpleNamespace(unacked=set(), ack=self._ack)
        self.sensors = SimpleNamespace(
            on_message_in=lambda tp, offset, m: self.sensed.append(("in", offset)),
            on_message_out=lambda tp, offset, m: self.sensed.append(("out", offset)),
        )

    def _ack(self, message: Any) -> bool:
        if message.acked:
            return False
        message.acked = True
        self.acked.append(message.offset)
        return True


class Record:
    """A fetched record as Faust's ConsumerMessage carries it (hashed by identity)."""

    def __init__(self, tp: TP, offset: int, generation: int) -> None:
        self.tp, self.topic, self.partition, self.offset = tp, tp.topic, tp.partition, offset
        self.generation_id, self.tracked, self.acked = generation, False, False


def messages(tp: TP, *offsets: int, generation: int = 1) -> list[Any]:
    return [Record(tp, o, generation) for o in offsets]


async def test_batches_are_cut_at_max_events_and_the_rest_waits_for_the_next() -> None:
    bulk = BulkInput(App(), "in", max_pending=5)  # type: ignore[arg-type]
    bulk.put(messages(P0, 1, 2, 3))
    bulk.put(messages(P1, 7, 8, 9))
    assert not bulk.has_room()  # 6 pending >= 5: the fetch loop waits
    first = await bulk.take(4, within_s=60)  # full: no wait
    assert [(m.partition, m.offset) for m in first] == [(0, 1), (0, 2), (0, 3), (1, 7)]
    assert bulk.has_room()
    rest = await bulk.take(4, within_s=0.01)  # not full: what came within the wait
    assert [m.offset for m in rest] == [8, 9]


async def test_a_batch_waits_for_its_first_record_then_at_most_within_s() -> None:
    bulk = BulkInput(App(), "in", max_pending=100)  # type: ignore[arg-type]
    taking = asyncio.ensure_future(bulk.take(10, within_s=30))
    await asyncio.sleep(0)
    bulk.put(messages(P0, 1))
    await asyncio.sleep(0)
    bulk.put(messages(P0, *range(2, 11)))  # fills the batch: it goes at once
    batch = await asyncio.wait_for(taking, 5)
    assert [m.offset for m in batch] == list(range(1, 11))


async def test_without_a_wait_a_batch_is_what_has_arrived_and_later_records_make_the_next() -> None:
    bulk = BulkInput(App(), "in", max_pending=100)  # type: ignore[arg-type]
    taking = asyncio.ensure_future(bulk.take(10, within_s=0))
    await asyncio.sleep(0)
    assert not taking.done()  # nothing yet: it waits for the first record
    bulk.put(messages(P0, 1, 2))
    bulk.put(messages(P1, 5))
    batch = await asyncio.wait_for(taking, 5)
    assert [(m.partition, m.offset) for m in batch] == [(0, 1), (0, 2), (1, 5)]
    bulk.put(messages(P0, 3))
    assert [m.offset for m in await asyncio.wait_for(bulk.take(10, within_s=0), 5)] == [3]


async def test_records_of_an_earlier_generation_or_a_stopped_flow_are_not_processed() -> None:
    app = App()
    bulk = BulkInput(app, "in", max_pending=100)  # type: ignore[arg-type]
    bulk.put(messages(P0, 1, 2, generation=1))
    app.consumer_generation_id = 2  # a rebalance happened since they were fetched
    bulk.put(messages(P0, 3, generation=2))
    batch = await bulk.take(10, within_s=0.01)
    assert [m.offset for m in batch] == [3]
    assert app.consumer.unacked == set(batch) and app.sensed == [("in", 3)]
    bulk.put(messages(P0, 4, generation=2))
    app.flow_control.suspend()
    assert await bulk.take(10, within_s=0.01) == []
    assert len(app.consumer.unacked) == 1  # nothing tracked while the flow is stopped


async def test_a_rebalance_clears_what_the_agent_has_not_taken() -> None:
    app = App()
    bulk = BulkInput(app, "in", max_pending=2)  # type: ignore[arg-type]
    bulk.put(messages(P0, 1, 2, 3))
    assert not bulk.has_room()
    app.flow_control.clear()  # what Faust calls when a rebalance starts
    assert bulk.has_room()
    bulk.put(messages(P0, 1))  # fetched again after the seek
    assert [m.offset for m in await bulk.take(10, within_s=0.01)] == [1]


async def test_ack_goes_through_the_consumer_once_per_record() -> None:
    app = App()
    bulk = BulkInput(app, "in", max_pending=100)  # type: ignore[arg-type]
    bulk.put(messages(P0, 5, 6))
    batch = await bulk.take(10, within_s=0.01)
    bulk.ack(batch)
    bulk.ack(batch)  # a second ack changes nothing
    assert app.acked == [5, 6]
    assert app.sensed == [("in", 5), ("in", 6), ("out", 5), ("out", 6)]


async def test_a_released_batch_is_neither_in_progress_nor_acked() -> None:
    """A stopping worker leaves the batch for the next owner: the consumer's wait_empty does
    not wait for it and no commit passes it."""
    app = App()
    bulk = BulkInput(app, "in", max_pending=100)  # type: ignore[arg-type]
    bulk.put(messages(P0, 5, 6))
    batch = await bulk.take(10, within_s=0.01)
    assert app.consumer.unacked == set(batch)
    bulk.release(batch)
    assert app.consumer.unacked == set() and app.acked == []


def test_each_topic_has_its_own_bulk_input() -> None:
    app = App()
    recommend = BulkInput(app, "in", max_pending=10)  # type: ignore[arg-type]
    trending = BulkInput(app, "by-item", max_pending=10)  # type: ignore[arg-type]
    assert bulk_inputs_of(app) == {"in": recommend, "by-item": trending}
    assert bulk_inputs_of(App()) == {}


def test_a_record_is_the_current_event_while_a_table_is_used() -> None:
    record = messages(P1, 42)[0]
    assert current_event() is None
    with current_message(record):
        event = current_event()
        assert event is not None and event.message is record
    assert current_event() is None


async def test_the_fetch_loop_hands_on_new_records_and_notes_gaps() -> None:
    gaps: list[tuple[TP, int, int]] = []
    handed: list[list[int]] = []

    async def add_gap(tp: TP, start: int, end: int) -> None:
        gaps.append((tp, start, end))

    consumer = SimpleNamespace(
        flow_active=True,
        suspend_flow=asyncio.Event(),
        app=SimpleNamespace(
            consumer_generation_id=3,
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
            monitor=SimpleNamespace(track_tp_end_offset=lambda tp, offset: None),
        ),
        _read_offset={P0: 11},
        _to_message=lambda tp, record: record,
        _add_gap=add_gap,
        _commit_every=None,
        highwater=lambda tp: 20,
    )
    put = lambda m: handed.append([r.offset for r in m])  # noqa: E731
    bulk = SimpleNamespace(has_room=lambda: True, put=put)
    # 10 was read before (a refetch after a seek back); 12-13 and 15-16 are missing.
    fetched = [SimpleNamespace(offset=o) for o in (10, 11, 14, 17)]
    assert await TunedConsumer._hand_on_bulk(consumer, bulk, P0, fetched, 3)
    assert handed == [[11, 14, 17]]
    assert gaps == [(P0, 12, 14), (P0, 15, 17)]
    assert consumer._read_offset[P0] == 17
    consumer.app.consumer_generation_id = 4  # a rebalance began: nothing is handed on
    assert not await TunedConsumer._hand_on_bulk(consumer, bulk, P0, fetched, 3)
    assert handed == [[11, 14, 17]]
