"""Synchronous scoring requests (the inference API), batched with each other.

No fixed wait: a request arriving while the model is idle is scored at once; requests
arriving while a model call runs wait for it and then go together in the next one. Under
load that is one ``session.run`` for many requests, at no latency cost when idle. Answers
come from the prediction cache when the same inputs were scored before (by the stream with
CACHE_IN_STREAM, or by an earlier request). A state the model cannot read (an empty history)
gets the trending items, as in the stream (``ColdStart``).
"""

from __future__ import annotations

import asyncio
import logging

from app.errors import ModelNotReady
from app.features.state import UserFeatureState
from app.inference.cache import PredictionCache
from app.inference.cold_start import ColdStart
from app.inference.scorer import OnnxScorer
from app.inference.serving import ServedModel
from app.records import ScoredItem

__all__ = ["OnlineRanker", "Ranked"]

logger = logging.getLogger(__name__)

Ranked = tuple[OnnxScorer, list[ScoredItem], str]
"""The scorer that answered (name, version), the top-K, best first, and their source."""


class OnlineRanker:
    """Queue of (state, k) requests drained in model-sized batches by one task at a time."""

    def __init__(
        self,
        model: ServedModel,
        cache: PredictionCache,
        max_batch: int,
        cold_start: ColdStart | None = None,
    ) -> None:
        self.model = model
        self.cache = cache
        self.max_batch = max_batch
        self.cold_start = cold_start or ColdStart()
        self._queue: list[tuple[UserFeatureState, int, asyncio.Future[Ranked]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def rank(self, state: UserFeatureState, k: int) -> Ranked:
        future: asyncio.Future[Ranked] = asyncio.get_running_loop().create_future()
        self._queue.append((state, k, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                await self._answer(batch)
            except Exception as exc:
                logger.exception("inference request batch of %d failed", len(batch))
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _answer(
        self, batch: list[tuple[UserFeatureState, int, asyncio.Future[Ranked]]]
    ) -> None:
        scorer = self.model.current
        if scorer is None:
            raise ModelNotReady("no model is loaded yet; retry once /v2/health/ready is 200")
        rows = [(state, k) for state, k, _ in batch]
        ranked = await self.cache.rank(scorer, rows)
        sources = self.cold_start.apply(scorer.vocab, rows, ranked)
        for (_, _, future), items, source in zip(batch, ranked, sources, strict=True):
            if not future.done():
                future.set_result((scorer, items, source))
