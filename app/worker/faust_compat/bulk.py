"""The bulk path: fetched records of the input topic reach the agent as lists.

Faust hands every record to its stream on its own: a conductor callback (a lock, the flow
control, the decode into an Event), a stream queue hop, the stream iterator's bookkeeping,
then an ack through the Event's reference count. Measured, that is about a quarter of a
worker's time for work streamrec does per batch anyway. Here the consumer's fetch loop
(``consumer.TunedConsumer``, change 8) puts each fetched partition's records, as Faust's own
``ConsumerMessage`` objects, in one ``BulkInput``; the agent takes micro-batches from it and
acks them through the consumer's own bookkeeping (``Consumer.ack``), so commits pass only
records the agent finished, exactly as with Faust's streams.

What Faust's streams do that is kept: the buffer is bounded (the fetch loop waits for room,
raced against a rebalance), it is cleared by the flow control on a rebalance like the stream
queues, records of an older consumer generation are never processed, a record is tracked as
in progress (the consumer's ``wait_empty`` waits for it on a rebalance or shutdown) from the
moment the agent takes it, and the monitor's sensors see every record in and out.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import faust
from faust.streams import _current_event
from faust.types import Message

__all__ = ["BulkInput", "Located", "bulk_inputs_of", "current_message"]

_INPUTS: weakref.WeakKeyDictionary[Any, dict[str, BulkInput]] = weakref.WeakKeyDictionary()


def bulk_inputs_of(app: Any) -> Mapping[str, BulkInput]:
    """The bulk inputs ``app``'s consumer fills, by topic (empty if none)."""
    return _INPUTS.get(app, {})


class BulkInput:
    """Fetched records of ``topic``, waiting for the agent (at most about ``max_pending``)."""

    def __init__(self, app: faust.App, topic: str, max_pending: int) -> None:
        self.app = app
        self.topic = topic
        self.max_pending = max_pending
        self._chunks: deque[Sequence[Message]] = deque()
        self._pending = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        _INPUTS.setdefault(app, {})[topic] = self
        # Cleared with the stream queues when a rebalance starts (flow_control.clear()).
        app.flow_control.manage_queue(self)  # type: ignore[arg-type]

    # The consumer's side.

    def has_room(self) -> bool:
        return self._pending < self.max_pending

    async def wait_room(self) -> None:
        await self._room.wait()

    def put(self, messages: Sequence[Message]) -> None:
        """One fetched partition's records (a fetch is never split: the limit is soft)."""
        self._chunks.append(messages)
        self._pending += len(messages)
        if self._pending >= self.max_pending:
            self._room.clear()
        self._arrived.set()

    def clear(self) -> None:
        """Drop what the agent has not taken (a rebalance: it is fetched again after the
        seek to the committed offsets)."""
        self._chunks.clear()
        self._pending = 0
        self._room.set()

    # The agent's side.

    async def take(self, max_events: int, within_s: float) -> list[Message]:
        """The next micro-batch: up to ``max_events`` records, waiting at most ``within_s``
        after the first for it to fill. Records are tracked as in progress from here."""
        while not self._chunks:
            self._arrived.clear()
            await self._arrived.wait()
        batch: list[Message] = []
        deadline = time.monotonic() + within_s
        while True:
            self._fill(batch, max_events)
            left = deadline - time.monotonic()
            if len(batch) >= max_events or left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                self._fill(batch, max_events)
                break
        return self._track(batch)

    def _fill(self, batch: list[Message], max_events: int) -> None:
        chunks = self._chunks
        while chunks and len(batch) < max_events:
            chunk = chunks.popleft()
            room = max_events - len(batch)
            if len(chunk) > room:
                chunks.appendleft(chunk[room:])
                chunk = chunk[:room]
            batch.extend(chunk)
            self._pending -= len(chunk)
        if self._pending < self.max_pending:
            self._room.set()

    def _track(self, batch: list[Message]) -> list[Message]:
        """What Faust's stream iterator does for each record it takes: skip records fetched
        before the current rebalance (the flow is stopped, or another generation: they are
        read again after the seek), mark the rest in progress and tell the sensors."""
        app = self.app
        consumer = app.consumer
        if not app.flow_control.is_active():
            return []
        generation = app.consumer_generation_id
        unacked = consumer.unacked
        on_message_in = app.sensors.on_message_in
        kept = []
        for message in batch:
            if message.generation_id != generation:
                continue
            if not message.tracked:
                message.tracked = True
                unacked.add(message)
                on_message_in(message.tp, message.offset, message)
            kept.append(message)
        return kept

    def release(self, batch: Sequence[Message]) -> None:
        """The batch will not be finished (the worker stops): no longer in progress, so the
        consumer's ``wait_empty`` does not wait for it, and not acked, so no commit passes
        it; the partitions' next owner reads it again."""
        unacked = self.app.consumer.unacked
        for message in batch:
            unacked.discard(message)

    def ack(self, batch: Sequence[Message]) -> None:
        """The batch is done (every output delivered): its offsets may be committed."""
        ack = self.app.consumer.ack
        on_message_out = self.app.sensors.on_message_out
        for message in batch:
            if ack(message):
                on_message_out(message.tp, message.offset, message)


class Located(Protocol):
    """Where a record was read: what a table needs of the current event's message."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class _MessageEvent:
    """What a Faust table reads of the current event: its message (topic and partition).

    Faust keeps a weak reference to the event in a context variable and calls it; this object
    is its own reference, so nothing else needs to hold it.
    """

    __slots__ = ("message",)

    def __init__(self, message: Located) -> None:
        self.message = message

    def __call__(self) -> _MessageEvent:
        return self


@contextmanager
def current_message(message: Located) -> Iterator[None]:
    """Make ``message`` the current event while a table is read or written.

    A table write sends its changelog record to the current event's partition and a RocksDB
    read looks in that partition's database; outside Faust's stream iterator there is no
    current event (faust#300), so it is set per access.
    """
    token = _current_event.set(_MessageEvent(message))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)
