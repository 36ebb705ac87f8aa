"""Three changes to Faust's Kafka consumer.

1. The fetch wait is a setting: Faust hard-codes ``fetch_max_wait_ms=1500``. A real Kafka
   broker answers a fetch as soon as data arrives, whatever the wait; the embedded broker
   (Tansu) holds it for a good part of the wait even when records are there (measured: p50
   357 ms at 1500 ms, 2 ms at 5 ms), which lands on every event's latency.
2. Each fetched record is handed to its stream without four tasks. Faust's fetch loop calls
   ``wait_first(callback(message), suspend_flow.wait())`` per record, which creates a task
   for each argument plus the service's stopped/crashed events and an ``asyncio.wait``:
   measured, that is a quarter of a worker's throughput. The callback almost never blocks
   (only on a full stream buffer, a full producer buffer or a rebalance), so it is first
   run inline; only when it does block is the rest raced against ``suspend_flow`` exactly as
   Faust does.
3. Table recovery learns where each changelog ends from a fetch, not from ListOffsets alone.
   Faust compares the offset a RocksDB store has persisted with ListOffsets(latest) and
   refuses to start (ConsistencyError) if the store is ahead, and reads a changelog only up
   to that offset. Kafka answers with the high watermark; the embedded broker answers with
   the last batch's base offset + 1, so a worker restarted on its own data dir crashed, and
   one recovering from the changelog stopped short. A fetch's high watermark is right on
   both, so it is asked for whenever a partition is not empty (once per recovery).
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Coroutine, Generator, Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from mode.services import WaitResults

__all__ = ["fetched_highwaters", "resume", "tune_consumer"]

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


def tune_consumer(fetch_max_wait_ms: int) -> None:
    """Install both changes in Faust's aiokafka driver (stream and changelog consumers)."""

    class ConsumerThread(driver.AIOKafkaConsumerThread):  # type: ignore[misc]
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # Read by AIOKafkaConsumer.start() when it builds its fetcher.
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

        async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
            listed = await super()._highwaters(partitions)
            if self.consumer.in_transaction:
                return listed  # last stable offsets: already exact
            conf, transport = self.app.conf, cast(driver.Transport, self.transport)
            return await fetched_highwaters(
                listed,
                bootstrap_servers=driver.server_list(transport.url, transport.default_port),
                fetch_max_wait_ms=fetch_max_wait_ms,
                **driver.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
            )

    class Consumer(driver.Consumer):  # type: ignore[misc]
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 (Faust's signature)
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

    driver.Transport.Consumer = Consumer
