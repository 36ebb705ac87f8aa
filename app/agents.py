"""The recommend agent: the Faust adapter around the batch core.

It takes micro-batches of events from the stream (the batch policy), hands their messages
to ``BatchCore`` with the tables behind the ``StateStore`` protocol, delivers the result's
records and returns, so ``take_events`` acks the batch only after every output and dead
letter was delivered (at-least-once).
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
from app.faust_compat import as_current_event
from app.features import UserFeatureState
from app.inference.cache import PredictionCache
from app.inference.rollout import Rollout
from app.metrics import AppMetrics
from app.pipeline.core import BatchCore
from app.pipeline.input import InputRecord
from app.pipeline.result import BatchResult
from app.pipeline.store import StateWrite
from app.settings import Settings

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
    """The features and latest tables behind the core's ``StateStore``, for one batch."""

    def __init__(
        self,
        stream: faust.Stream[bytes],
        events: Sequence[EventT[Any]],
        features: faust.Table[str, UserFeatureState],
        latest: faust.Table[str, bytes],
    ) -> None:
        self.stream = stream
        self.features = features
        self.latest = latest
        self._event_of = {id(e.message): e for e in events}

    def read_many(self, wanted: Sequence[tuple[str, InputRecord]]) -> list[UserFeatureState | None]:
        out = []
        for user_id, record in wanted:
            with as_current_event(self.stream, self._event_of[id(record)]):
                out.append(self.features.get(user_id))
        return out

    def write_many(self, writes: Sequence[StateWrite]) -> None:
        for write in writes:
            with as_current_event(self.stream, self._event_of[id(write.record)]):
                self.features[write.user_id] = write.state
                self.latest[write.user_id] = write.latest


class RecommendAgent:
    """Agent body and liveness: model loading, the batch loop, delivery of each result."""

    def __init__(
        self,
        settings: Settings,
        core: BatchCore,
        features: faust.Table[str, UserFeatureState],
        latest: faust.Table[str, bytes],
        rollout: Rollout,
        metrics: AppMetrics,
        sender: BatchSender,
        cache: PredictionCache,
        batches: BatchPolicy,
    ) -> None:
        self.settings = settings
        self.core = core
        self.features = features
        self.latest = latest
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
        try:
            async for events in self.batches(stream):
                await self.process_batch(stream, events)
        finally:
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
        then its records delivered."""
        self._batch_started = time.monotonic()
        try:
            store = TableStore(stream, events, self.features, self.latest)
            records = [e.message for e in events]
            result = await self.core.process(records, store, self.rollout.arms())
            t0 = time.perf_counter()
            await self._deliver(result)
            self.metrics.stage_seconds.labels("produce").observe(time.perf_counter() - t0)
        finally:
            self._batch_started = None

    async def _deliver(self, result: BatchResult) -> None:
        """Deliver the batch's records before take_events acks it (at-least-once).

        Failures are retried until they pass: raising here would let Faust ack the batch
        and restart the agent, losing its outputs. A stuck worker shows in the logs, the
        ``produce_errors`` metric and, after STALL_TIMEOUT_S, a failing /health/live; records
        delivered before a retry may be sent twice.
        """
        s = self.settings
        dead = [letter.record for letter in result.dead_letters]
        backoff = 0.2
        while True:
            try:
                futures = await self.sender.send_many(s.output_topic, result.outputs)
                futures += await self.sender.send_many(s.dlq_topic, dead)
                futures += await self.sender.send_many(s.shadow_topic, result.shadows)
                await asyncio.gather(*futures)
                return
            except Exception:
                self.metrics.produce_errors.inc()
                logger.exception("cannot deliver %d records; retrying in %.1fs",
                                 len(result.outputs) + len(dead), backoff)  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
