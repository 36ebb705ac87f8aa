"""Eight changes to Faust's Kafka consumer.

1. The fetch wait is a setting: Faust hard-codes ``fetch_max_wait_ms=1500``. A real Kafka
   broker answers a fetch as soon as data arrives, whatever the wait; the embedded broker
   (Tansu) holds it for a good part of the wait even when records are there (measured: p50
   357 ms at 1500 ms, 2 ms at 5 ms), which lands on every event's latency.
2. Table recovery learns where each changelog ends from a fetch, not from ListOffsets alone.
   Faust compares the offset a RocksDB store has persisted with ListOffsets(latest) and
   refuses to start (ConsistencyError) if the store is ahead, and reads a changelog only up
   to that offset. Kafka answers with the high watermark; the embedded broker answers with
   the last batch's base offset + 1, so a worker restarted on its own data dir crashed, and
   one recovering from the changelog stopped short. A fetch's high watermark is right on
   both, so it is asked for whenever a partition is not empty (once per recovery).
3. After a rebalance, stream partitions are resumed only once they are sought to their
   committed offsets and the stream queues are cleared. Faust resumes them first, while the
   fetcher already runs (it read the changelogs), then seeks, then clears the queues.
   Records fetched meanwhile were processed or cleared away, and moved the consumer's read
   offset on: refetched after the seek, they were dropped as already read, and the commit
   later skipped them. Measured with a second worker joining and the first leaving: 8-30
   of 2,400 events lost in 2 of 5 runs; resuming after the seek alone still lost one
   record now and then (fetched between the seek and the clearing).
4. A fetch asks for the partitions active when it runs, never "all". Faust hands its live
   set of active partitions to a fetch that waits for the consumer thread; a recovery can
   empty that set meanwhile, and aiokafka reads an empty set as *every* assigned partition.
   The records it then returned (paused stream partitions, standby changelogs) were dropped
   by Faust as not active, with the consumer's position already past them. Measured: a
   worker restarted after kill -9 under CPU load left whole partitions unprocessed (1 run
   in 8), and a promoted standby missed early changelog records (stale state).
5. A stream partition without a committed offset is rewound to its beginning whenever Faust
   seeks to the committed offsets. aiokafka's seek_to_committed leaves such a partition where
   it is (it seeks only to offsets > 0), so records dropped before the group's first commit
   were never fetched again.
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
import time
import types
from collections.abc import AsyncIterator, Coroutine, Generator, Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from mode.services import WaitResults

from app.worker.faust_compat.bulk import BulkInput, bulk_inputs_of

__all__ = [
    "SeekBeforeResumeRecovery",
    "SeekBeforeResumeTableManager",
    "TunedConsumer",
    "TunedConsumerThread",
    "TunedTransport",
    "fetched_highwaters",
    "resume",
]

_EARLIEST = "earliest"

logger = logging.getLogger(__name__)


async def fetched_highwaters(
    listed: Mapping[TP, int], within_s: float = 10.0, **consumer_kwargs: Any
) -> dict[TP, int]:
    """High watermarks from fetch responses, starting from ListOffsets' ``listed`` answers.

    Reads one record at ``listed - 1`` of each non-empty partition: the fetch response
    carries the partition's high watermark. Falls back to ``listed`` (and says so) if a
    partition does not answer in time.
    """
    result = dict(listed)
    pending = {tp for tp, offset in listed.items() if offset > 0}
    if not pending:
        return result
    probe = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **consumer_kwargs)
    await probe.start()
    try:
        probe.assign(list(pending))
        for tp in pending:
            probe.seek(tp, listed[tp] - 1)
        deadline = time.monotonic() + within_s
        while pending and time.monotonic() < deadline:
            await probe.getmany(*pending, timeout_ms=200, max_records=1)
            for tp in list(pending):
                highwater = probe.highwater(tp)
                if highwater is not None:
                    result[tp] = max(listed[tp], highwater)
                    pending.discard(tp)
    finally:
        await probe.stop()
    if pending:
        logger.warning("no high watermark fetched for %s; using ListOffsets", sorted(pending))
    return result


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


class SeekBeforeResumeRecovery(Recovery):  # type: ignore[misc]
    """Faust's table recovery, with stream partitions resumed only once the hand-over is done.

    Both hand-overs to the streams (after a recovery, or with nothing to recover) call
    ``consumer.resume_partitions``, then seek, then resume the flow control, which clears
    the stream queues. Resuming the partitions after all of that means nothing is fetched
    before the seek, and nothing fetched after it is cleared away.
    """

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        await self._resume_partitions_last(super().on_recovery_completed, generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        await self._resume_partitions_last(super()._resume_streams, generation_id)

    async def _resume_partitions_last(self, hand_over: Any, generation_id: int) -> None:
        consumer = cast(Any, self.app.consumer)  # the method is shadowed for the hand-over
        held: list[set[TP]] = []
        consumer.resume_partitions = lambda tps: held.append(set(tps))
        try:
            await hand_over(generation_id)
        finally:
            del consumer.resume_partitions
            for tps in held:
                consumer.resume_partitions(tps)


class SeekBeforeResumeTableManager(TableManager):  # type: ignore[misc]
    """Faust's table manager, recovering with ``SeekBeforeResumeRecovery`` (the app's
    ``TableManager`` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekBeforeResumeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery


class TunedConsumerThread(driver.AIOKafkaConsumerThread):  # type: ignore[misc]
    """Changes 1, 2, 4 and 5: the thread that owns the aiokafka consumer."""

    @property
    def fetch_max_wait_ms(self) -> int:
        """The app's fetch wait (change 1), which its ``TunedTransport`` holds."""
        return cast(TunedTransport, self.transport).fetch_max_wait_ms

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 (Faust's signature)
        max_records: int | None = None,
    ) -> Any:
        snapshot = set(active_partitions)  # a copy: Faust may change its set meanwhile
        if not snapshot:
            return {}  # aiokafka would take an empty set for "all partitions"
        return await super()._fetch_records(
            consumer, snapshot, timeout=timeout, max_records=max_records
        )

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed: Mapping[TP, int] = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset != _EARLIEST:
            return committed
        rewind = [
            tp
            for tp, offset in committed.items()
            if not offset and not self.consumer._is_changelog_tp(tp)
        ]
        if rewind:
            await self.seek_to_beginning(*rewind)
        return committed

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        listed = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return listed  # last stable offsets: already exact
        conf, transport = self.app.conf, cast(driver.Transport, self.transport)
        return await fetched_highwaters(
            listed,
            bootstrap_servers=driver.server_list(transport.url, transport.default_port),
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **driver.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )


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
