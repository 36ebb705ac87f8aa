"""The recommend agent: the Faust adapter around the batch core.

It takes micro-batches of the input topic's records (the batch policy, ``batching``, on the
records the consumer's fetches deliver, ``faust_compat.bulk``), hands them to ``BatchCore``
with the features table behind the ``StateStore`` protocol, counts the result into the
metrics and delivers it to the sinks; a batch is acked only after every required sink
(outputs, dead letters, shadow updates, the latest table) has it (at-least-once).

Two stages overlap: while a batch is being delivered (waiting on the broker's acks), the
next one is taken and scored. Its delivery starts only after the previous one's ended, so
every sink sees the batches in order, and at most one batch waits on the sinks. Serially,
a batch's delivery time was added to the wait of every record fetched meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import Message

from app.errors import StreamrecError
from app.features.state import UserFeatureState
from app.inference.cache import PredictionCache
from app.kafka.producer import BatchSender
from app.metrics import AppMetrics
from app.pipeline.core import BatchCore
from app.pipeline.decode import InputRecord
from app.pipeline.result import BatchResult
from app.pipeline.store import StateWrite
from app.rollout.arms import Rollout
from app.settings import Settings
from app.sinks import Sink, deliver
from app.worker.batch_metrics import count_batch
from app.worker.batching import BatchPolicy, BatchSource, subscribe
from app.worker.faust_compat import check_source_partitions, current_message
from app.worker.health_state import WorkerHealth

__all__ = ["RecommendAgent", "TableStore"]

logger = logging.getLogger(__name__)

CONTROL_SYNC_WAIT_S = 20.0
"""How long the first model load waits for the control topic's rollout state (read in a
second or two when the broker answers); past it, the worker starts with what it has."""


class TableStore:
    """The features table behind the core's ``StateStore``: each read and write in the
    partition of its record (made the current event: faust#300).

    Writes go to the table's store only, not one by one through Faust's producer: the states
    go out with the batch's other records, in headers of the updates (``user_states``) or as
    changelog records (``features_changelog``, STATE_CHANGELOG=topic).
    """

    def __init__(self, features: faust.Table[str, UserFeatureState]) -> None:
        self.features = features

    def read_many(self, wanted: Sequence[tuple[str, InputRecord]]) -> list[UserFeatureState | None]:
        out = []
        for user_id, record in wanted:
            with current_message(record):
                out.append(self.features.get(user_id))
        return out

    def write_many(self, writes: Sequence[StateWrite]) -> None:
        for topic in {write.record.topic for write in writes}:
            check_source_partitions(self.features, topic)
        store = self.features.data
        for write in writes:
            with current_message(write.record):
                store[write.user_id] = write.state


class RecommendAgent:
    """Agent body and liveness: model loading, the batch loop, delivery to the sinks."""

    def __init__(
        self,
        settings: Settings,
        core: BatchCore,
        store: TableStore,
        sinks: Sequence[Sink],
        rollout: Rollout,
        metrics: AppMetrics,
        sender: BatchSender,
        cache: PredictionCache,
        source: BatchSource,
        batches: BatchPolicy,
        health: WorkerHealth,
    ) -> None:
        self.settings = settings
        self.core = core
        self.store = store
        self.sinks = sinks
        self.rollout = rollout
        self.model = rollout.main
        self.metrics = metrics
        self.sender = sender
        self.cache = cache
        self.source = source
        self.batches = batches
        self.health = health
        self._batch_started: float | None = None
        self._stopping = False
        self._in_progress: asyncio.Future[None] | None = None
        self._delivery: _Delivery | None = None

    async def run(self, stream: faust.Stream[bytes]) -> None:
        """Agent body: load the model, then process micro-batches until the worker stops."""
        while not self.model.ready:
            # No model yet: stay up and unready (events wait in Kafka), retry until one loads.
            try:
                await self.rollout.load_main(wait_s=CONTROL_SYNC_WAIT_S)
            except StreamrecError as exc:
                retry = self.settings.model_retry_s
                logger.error("cannot serve yet: %s; retrying in %.0fs", exc, retry)
                await asyncio.sleep(retry)
        await self.rollout.load_candidates()
        await self.sender.start()
        for sink in self.sinks:
            await sink.start()
        try:
            subscribe(stream)  # only now: until a model serves, the events wait in Kafka
            async for records in self.batches(self.source):
                if self._stopping:  # taken after the stop signal: left for the next owner
                    self.source.release(records)
                    break
                if not await self._finish_or_abandon(self.process_batch(records), records):
                    break
            # Stopping: the last delivery, within the time the stop gives it.
            await self._finish_or_abandon(self._delivered(), ())
        finally:
            self._abandon_delivery()
            for sink in self.sinks:
                await sink.stop()
            await self.sender.stop()
            await self.cache.close()

    def request_stop(self, abandon_after_s: float) -> None:
        """The worker is stopping (``shutdown.Shutdown``): take no other batch, and abandon
        the one in progress (and the one being delivered) if not done within
        ``abandon_after_s``."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        loop.call_later(abandon_after_s, self._abandon_in_progress, abandon_after_s)

    def _abandon_in_progress(self, after_s: float) -> None:
        if self._in_progress is not None:
            self._in_progress.cancel()  # ``_finish_or_abandon`` releases its records
        elif abandoned := self._abandon_delivery():  # the agent waits for records meanwhile
            _log_abandoned(abandoned, after_s)

    async def _finish_or_abandon(
        self, work: Coroutine[Any, Any, None], records: Sequence[Message]
    ) -> bool:
        """``work`` (a batch, or the wait for the last delivery); False if the stop abandoned
        it: then neither ``records`` nor the batch being delivered is acked, and the
        partitions' next owner processes them again. A task, so that cancelling it cannot be
        mistaken for Faust cancelling the agent."""
        started = time.monotonic()
        task = asyncio.ensure_future(work)
        self._in_progress = task
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._in_progress = None
        if task.cancelled():
            self.source.release(records)
            _log_abandoned(len(records) + self._abandon_delivery(), time.monotonic() - started)
            return False
        task.result()  # its error, if it failed
        return True

    def stalled_for(self) -> float:
        """Seconds the oldest batch in progress (scored or being delivered) has been running
        (0 when none is)."""
        started = [t for t in (self._batch_started, self._delivery_started()) if t is not None]
        return 0.0 if not started else time.monotonic() - min(started)

    async def process_batch(self, records: Sequence[Message]) -> None:
        """One batch through the core (arms as they are now: a reload lands between batches),
        then, once the previous batch is delivered, this one's delivery is started."""
        self._batch_started = time.monotonic()
        try:
            result = await self.core.process(records, self.store, self.rollout.arms())
            count_batch(self.metrics, result)
            self.health.batch_done(failed=result.failed)
            await self._delivered()
        finally:
            self._batch_started = None
        task = asyncio.ensure_future(self._deliver(result, records))
        self._delivery = _Delivery(records, task, time.monotonic())

    async def _deliver(self, result: BatchResult, records: Sequence[Message]) -> None:
        t0 = time.perf_counter()
        await deliver(self.sinks, result, self.metrics)
        self.metrics.stage_seconds.labels("produce").observe(time.perf_counter() - t0)
        self.source.ack(records)

    async def _delivered(self) -> None:
        """The batch being delivered, once delivered (and acked); its error, if it failed."""
        delivery = self._delivery
        if delivery is not None:
            # Shielded: abandoning the waiter abandons the delivery through
            # ``_abandon_delivery``, which also releases its records.
            await asyncio.shield(delivery.task)
            self._delivery = None

    def _delivery_started(self) -> float | None:
        delivery = self._delivery
        return None if delivery is None or delivery.task.done() else delivery.started

    def _abandon_delivery(self) -> int:
        """Cancel the delivery in flight, if any, and release its records (not acked); how
        many records that was."""
        delivery, self._delivery = self._delivery, None
        if delivery is None or delivery.task.done():
            return 0
        delivery.task.cancel()
        self.source.release(delivery.records)
        return len(delivery.records)


def _log_abandoned(records: int, after_s: float) -> None:
    logger.warning(
        "stopping: abandoned the batches in progress (%d records, %.1f s in): not committed, "
        "the partitions' next owner processes them again", records, after_s,
    )  # fmt: skip


@dataclass(frozen=True)
class _Delivery:
    """A batch whose result is being delivered to the sinks; acked when it is."""

    records: Sequence[Message]
    task: asyncio.Future[None]
    started: float
