"""The recommend agent: the Faust adapter around the batch core.

It takes micro-batches of the input topic's records (the batch policy: by default straight
from the consumer's fetches, ``faust_compat.bulk``), hands them to ``BatchCore`` with the
features table behind the ``StateStore`` protocol, delivers the result to the sinks and
returns, so the policy acks the batch only after every required sink (outputs, dead
letters, shadow updates, the latest table) has it (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

import faust
from faust.types import Message

from app.emit import BatchSender
from app.errors import StreamrecError
from app.faust_compat import BulkInput, current_message
from app.features import UserFeatureState
from app.inference.cache import PredictionCache
from app.inference.rollout import Rollout
from app.metrics import AppMetrics
from app.pipeline.core import BatchCore
from app.pipeline.input import InputRecord
from app.pipeline.store import StateWrite
from app.settings import Settings
from app.sinks import Sink, deliver

__all__ = ["BatchPolicy", "RecommendAgent", "TableStore", "take_batches"]

logger = logging.getLogger(__name__)

CONTROL_SYNC_WAIT_S = 20.0
"""How long the first model load waits for the control topic's rollout state (read in a
second or two when the broker answers); past it, the worker starts with what it has."""

BatchPolicy = Callable[[faust.Stream[bytes]], AsyncIterator[Sequence[Message]]]
"""How the agent gathers micro-batches of its topic's records. A batch is acked when the
agent asks for the next one, so it must ask only once the batch is delivered."""


def take_batches(bulk: BulkInput, max_batch: int, max_wait_s: float) -> BatchPolicy:
    """Up to ``max_batch`` records, or what came within ``max_wait_s`` of the first, from
    the consumer's fetches (no Event, queue hop or ack per record)."""

    async def batches(stream: faust.Stream[bytes]) -> AsyncIterator[Sequence[Message]]:
        # Iterating the agent's channel is what subscribes the worker to the topic (Faust
        # does it when a stream is first iterated); its records come through ``bulk``.
        aiter(stream.channel)
        while True:
            batch = await bulk.take(max_batch, max_wait_s)
            if batch:
                yield batch
                bulk.ack(batch)

    return batches


class TableStore:
    """The features table behind the core's ``StateStore``: each read and write in the
    partition of its record (made the current event: faust#300)."""

    def __init__(self, features: faust.Table[str, UserFeatureState]) -> None:
        self.features = features

    def read_many(self, wanted: Sequence[tuple[str, InputRecord]]) -> list[UserFeatureState | None]:
        out = []
        for user_id, record in wanted:
            with current_message(record):
                out.append(self.features.get(user_id))
        return out

    def write_many(self, writes: Sequence[StateWrite]) -> None:
        for write in writes:
            with current_message(write.record):
                self.features[write.user_id] = write.state


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
        batches: BatchPolicy,
        release: Callable[[Sequence[Message]], None],
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
        self.batches = batches
        self.release = release
        self._batch_started: float | None = None
        self._stopping = False
        self._in_progress: asyncio.Future[None] | None = None

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
            async for records in self.batches(stream):
                if self._stopping:  # taken after the stop signal: left for the next owner
                    self.release(records)
                    break
                if not await self._finish_or_abandon(records):
                    break
        finally:
            for sink in self.sinks:
                await sink.stop()
            await self.sender.stop()
            await self.cache.close()

    def request_stop(self, abandon_after_s: float) -> None:
        """The worker is stopping (``shutdown.Shutdown``): take no other batch, and abandon
        the one in progress if it has not finished within ``abandon_after_s``."""
        self._stopping = True
        asyncio.get_running_loop().call_later(abandon_after_s, self._abandon_in_progress)

    def _abandon_in_progress(self) -> None:
        if self._in_progress is not None:
            self._in_progress.cancel()

    async def _finish_or_abandon(self, records: Sequence[Message]) -> bool:
        """``process_batch``; False if the stop abandoned it (then it is not acked: the
        partitions' next owner processes it again). A task per batch, so that cancelling it
        cannot be mistaken for Faust cancelling the agent."""
        started = time.monotonic()
        task = asyncio.ensure_future(self.process_batch(records))
        self._in_progress = task
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._in_progress = None
        if task.cancelled():
            self.release(records)
            logger.warning(
                "stopping: abandoned the batch in progress (%d records, %.1f s in): not "
                "committed, the partitions' next owner processes it again",
                len(records), time.monotonic() - started,
            )  # fmt: skip
            return False
        task.result()  # its error, if it failed
        return True

    def stalled_for(self) -> float:
        """Seconds the batch in progress has been running (0 when none is)."""
        started = self._batch_started
        return 0.0 if started is None else time.monotonic() - started

    async def process_batch(self, records: Sequence[Message]) -> None:
        """One batch through the core (arms as they are now: a reload lands between batches),
        then to the sinks; returning lets the batch policy ack it."""
        self._batch_started = time.monotonic()
        try:
            result = await self.core.process(records, self.store, self.rollout.arms())
            t0 = time.perf_counter()
            await deliver(self.sinks, result, self.metrics)
            self.metrics.stage_seconds.labels("produce").observe(time.perf_counter() - t0)
        finally:
            self._batch_started = None
