"""Changes 6, 7 and 8 to Faust's Kafka consumer (of eight; the package lists them all), and
the transport that makes the changed consumer.

6. Fetched records Faust does not hand on are fetched again. Faust drops records of a
   partition that is not active when they arrive, and the rest of a fetch when the flow
   stops (a rebalance) mid-way; aiokafka's position is past them by then. Faust counts on
   the seek to the committed offsets after the rebalance to read them again, but a
   changelog partition has no committed offset, and a stream partition may have none yet.
   Each such partition is now sought back to its first record not handed on.
7. Each fetched record is handed to its stream without four tasks. Faust's fetch loop calls
   ``wait_first(callback(message), suspend_flow.wait())`` per record, which creates a task
   for each argument plus the service's stopped/crashed events and an ``asyncio.wait``:
   measured, a quarter of a worker's throughput. The callback almost never blocks (only on
   a full stream buffer, a full producer buffer or a rebalance), so it is first run inline;
   only when it does block is the rest raced against ``suspend_flow`` as Faust does.
8. Records of the bulk topics (one ``bulk.BulkInput`` each: the input, and the by-item topic
   when trending is on) skip the per-record hand-off altogether: each fetched partition's
   records go to its topic's bulk input as one list, with the read-offset,
   gap and commit bookkeeping Faust's fetch loop does per record. When the bulk input is
   full the fetch loop waits for room, raced against a rebalance like any hand-off; what a
   rebalance interrupts is fetched again (change 6).
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import AsyncIterator, Coroutine, Generator, Mapping
from typing import Any

from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from mode.services import WaitResults

from app.worker.faust_compat.bulk import BulkInput, bulk_inputs_of
from app.worker.faust_compat.consumer_thread import TunedConsumerThread

__all__ = ["TunedConsumer", "TunedTransport", "resume"]

logger = logging.getLogger(__name__)


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], blocked_on: Any) -> Generator[Any, Any, Any]:
    """The rest of ``coro``, already stepped once, where it yielded ``blocked_on``.

    Passes what the coroutine yields up to the task driving it, and what the task sends or
    throws back down, like ``yield from`` that starts at the second step.
    """
    while True:
        try:
            sent = yield blocked_on
        except BaseException as exc:  # delivered to the coroutine, which decides
            try:
                blocked_on = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                blocked_on = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class TunedConsumer(driver.Consumer):  # type: ignore[misc]
    """Changes 6, 7 and 8, and the tuned thread."""

    _fetched: Mapping[TP, list[Any]] | None = None

    def _new_consumer_thread(self) -> TunedConsumerThread:
        return TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _wait_next_records(self, timeout: float) -> Any:  # noqa: ASYNC109
        records, active = await super()._wait_next_records(timeout)
        self._fetched = records
        return records, active

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # noqa: ASYNC109
        handed_on: dict[TP, int] = {}
        inputs = bulk_inputs_of(self.app)
        try:
            if not inputs:
                records = super().getmany(timeout)
            else:
                records = self._getmany_bulk(inputs, timeout, handed_on)
            async for tp, message in records:
                handed_on[tp] = handed_on.get(tp, 0) + 1
                yield tp, message
        finally:
            fetched, self._fetched = self._fetched, None
            if fetched:
                self._refetch_dropped(fetched, handed_on)

    async def _getmany_bulk(
        self,
        inputs: Mapping[str, BulkInput],
        timeout: float,  # noqa: ASYNC109
        handed_on: dict[TP, int],
    ) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's ``getmany`` (the same checks), with the records of the bulk inputs' topics
        handed to them a partition at a time instead of yielded one by one."""
        records, active = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            try:  # as Faust does: the next fetch starts from the committed offsets
                await self.perform_seek()
            except Exception as exc:
                logger.warning("exception performing seek when flow not active %r", exc)
            return
        others = {}
        for tp, fetched in records.items():
            if not (active is None or tp in active or tp in self._buffered_partitions):
                continue
            bulk = inputs.get(tp.topic)
            if bulk is None:
                others[tp] = fetched
            elif await self._hand_on_bulk(bulk, tp, fetched, generation_id):
                handed_on[tp] = len(fetched)
            else:
                return  # a rebalance began: the rest is fetched again after it
        to_message = self._to_message
        for tp, record in self.scheduler.iterate(others):
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            yield tp, to_message(tp, record)

    async def _hand_on_bulk(
        self, bulk: BulkInput, tp: TP, fetched: list[Any], generation_id: int
    ) -> bool:
        """One partition's fetched records to ``bulk``; False if a rebalance stopped it."""
        if not bulk.has_room():
            await self.wait_first(bulk.wait_room(), self.suspend_flow.wait())
        if (
            not self.flow_active
            or self.suspend_flow.is_set()
            or self.app.consumer_generation_id != generation_id
        ):
            return False
        read = self._read_offset[tp]
        messages = [self._to_message(tp, r) for r in fetched if read is None or r.offset >= read]
        if not messages:
            return True  # all read before (refetched after a seek back)
        first, last = messages[0].offset, messages[-1].offset
        contiguous = last - first + 1 == len(messages) and not (read and first - read > 1)
        if not contiguous and self.app.topics.acks_enabled_for(tp.topic):
            # Offsets missing in between (compaction, transaction markers): the commit may
            # pass them. Faust's fetch loop notes them record by record, the same way.
            for message in messages:
                if read and message.offset - read > 1:
                    await self._add_gap(tp, read + 1, message.offset)
                read = message.offset
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
        bulk.put(messages)
        self._read_offset[tp] = last
        return True

    def _refetch_dropped(self, fetched: Mapping[TP, list[Any]], handed_on: dict[TP, int]) -> None:
        assigned = self.assignment()
        for tp, records in fetched.items():
            n = handed_on.get(tp, 0)
            if n < len(records) and tp in assigned:
                logger.debug("%s: %d fetched records not handed on; refetching from %d",
                             tp, len(records) - n, records[n].offset)  # fmt: skip
                self._thread.seek(tp, records[n].offset)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109
        if not self._is_record_handoff(coros, timeout):
            return await super().wait_first(*coros, timeout=timeout)
        callback, suspended = coros
        try:
            blocked_on = callback.send(None)
        except StopIteration as done:
            suspended.close()
            return WaitResults([callback], [done.value], False)
        rest = asyncio.ensure_future(resume(callback, blocked_on))
        return await super().wait_first(rest, suspended, timeout=timeout)

    def _is_record_handoff(self, coros: tuple[Any, ...], timeout: Any) -> bool:
        """Is this the fetch loop's ``(callback(message), suspend_flow.wait())``?"""
        if len(coros) != 2 or timeout is not None:
            return False
        callback, suspended = coros
        frame = getattr(suspended, "cr_frame", None)
        return (
            isinstance(callback, types.CoroutineType)
            and frame is not None
            and frame.f_locals.get("self") is self.suspend_flow
            and not (self.suspend_flow.is_set() or self.should_stop)
        )


class TunedTransport(driver.Transport):  # type: ignore[misc]
    """aiokafka's transport, making the tuned consumer with its app's fetch wait (change 1)."""

    Consumer = TunedConsumer

    def __init__(self, url: Any, app: Any, *, fetch_max_wait_ms: int) -> None:
        super().__init__(url, app)
        self.fetch_max_wait_ms = fetch_max_wait_ms
