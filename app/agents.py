"""The recommend agent: the Faust adapter around the batch core.

It takes micro-batches of events from the stream (the batch policy), hands their messages
to ``BatchCore`` with the features table behind the ``StateStore`` protocol, delivers the
result to the sinks and returns, so ``take_events`` acks the batch only after every required
sink (outputs, dead letters, shadow updates, the latest table) has it (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import faust
from faust.types import EventT

from app.emit import BatchSender
from app.errors import StreamrecError
from app.faust_compat import BatchEvents
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

BatchPolicy = Callable[[faust.Stream[bytes]], AsyncIterator[Sequence[EventT[Any]]]]
"""How the agent gathers micro-batches from its stream."""


def take_batches(max_batch: int, max_wait_s: float) -> BatchPolicy:
    """Up to ``max_batch`` events, or what came within ``max_wait_s`` (Faust's take_events)."""

    def batches(stream: faust.Stream[bytes]) -> AsyncIterator[Sequence[EventT[Any]]]:
        return stream.take_events(max_batch, within=max_wait_s)  # type: ignore[no-any-return]

    return batches


class TableStore:
    """The features table behind the core's ``StateStore``: each read and write in the
    partition of its record (the batch's event made current)."""

    def __init__(self, features: faust.Table[str, UserFeatureState], events: BatchEvents) -> None:
        self.features = features
        self.events = events

    def read_many(self, wanted: Sequence[tuple[str, InputRecord]]) -> list[UserFeatureState | None]:
        out = []
        for user_id, record in wanted:
            with self.events.current(record):
                out.append(self.features.get(user_id))
        return out

    def write_many(self, writes: Sequence[StateWrite]) -> None:
        for write in writes:
            with self.events.current(write.record):
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
        self._batch_started: float | None = None

    async def run(self, stream: faust.Stream[bytes]) -> None:
        """Agent body: load the model, then process micro-batches until the worker stops."""
        while not self.model.ready:
            # No model yet: stay up and unready (events wait in Kafka), retry until one loads.
            try:
                await self.model.load()
            except StreamrecError as exc:
                retry = self.settings.model_retry_s
                logger.error("cannot serve yet: %s; retrying in %.0fs", exc, retry)
                await asyncio.sleep(retry)
        await self.rollout.load_candidates()
        await self.sender.start()
        for sink in self.sinks:
            await sink.start()
        try:
            async for events in self.batches(stream):
                await self.process_batch(stream, events)
        finally:
            for sink in self.sinks:
                await sink.stop()
            await self.sender.stop()
            await self.cache.close()

    def stalled_for(self) -> float:
        """Seconds the batch in progress has been running (0 when none is)."""
        started = self._batch_started
        return 0.0 if started is None else time.monotonic() - started

    async def process_batch(
        self, stream: faust.Stream[bytes], events: Sequence[EventT[Any]]
    ) -> None:
        """One batch through the core (arms as they are now: a reload lands between batches),
        then to the sinks; returning lets take_events ack it."""
        self._batch_started = time.monotonic()
        try:
            self.store.events.begin(stream, events)
            records = [e.message for e in events]
            result = await self.core.process(records, self.store, self.rollout.arms())
            t0 = time.perf_counter()
            await deliver(self.sinks, result, self.metrics)
            self.metrics.stage_seconds.labels("produce").observe(time.perf_counter() - t0)
        finally:
            self._batch_started = None
