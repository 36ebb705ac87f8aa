"""Prediction cache: a user's top-K by (model name, version, K, fingerprint of the inputs).

The key covers everything the answer depends on, so a state change or a model swap can
never serve a stale answer: only a user whose inputs are exactly the same again (a replayed
event, the same short history as another user, a synchronous request for the stored state)
is answered without the model. One ``mget`` / ``mset`` per micro-batch, never per event.

The cache is an optimisation, never a dependency: a failing or unreachable backend (Redis
down) is counted and logged once per outage, and the batch is scored as if it missed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import msgspec
from aiocache import Cache
from aiocache.base import BaseCache
from aiocache.serializers import BaseSerializer

from app.features.builders import state_fields
from app.features.state import UserFeatureState
from app.inference.batcher import rank_states
from app.inference.scorer import Scorer
from app.metrics import AppMetrics
from app.records import ScoredItem

__all__ = ["PredictionCache"]

logger = logging.getLogger(__name__)

_encode = msgspec.msgpack.Encoder().encode
_decode_items = msgspec.msgpack.Decoder(list[ScoredItem]).decode


class _Bytes(BaseSerializer):  # type: ignore[misc]
    """Values are stored as given (msgpack bytes): the same on every backend."""

    DEFAULT_ENCODING = None

    def dumps(self, value: bytes) -> bytes:
        return value

    def loads(self, value: bytes | None) -> bytes | None:
        return value


class PredictionCache:
    """aiocache behind two batch calls; ``memory://`` per worker or ``redis://`` shared."""

    def __init__(self, url: str, ttl_s: float, timeout_s: float, metrics: AppMetrics) -> None:
        self.url = url
        self.metrics = metrics
        self._cache: BaseCache = Cache.from_url(url)
        self._cache.serializer = _Bytes()
        self._cache.timeout = timeout_s
        self._cache.ttl = ttl_s
        self._cache.namespace = "streamrec"
        self._failing = False

    @staticmethod
    def key(
        model: str,
        version: str,
        k: int,
        state: UserFeatureState,
        reads: tuple[str, ...] = ("recent",),
    ) -> str:
        """Model name, version and K in clear; hashed: what the model's feature builders read
        (``reads``: state fields) and the seen items (masked from the answer)."""
        fields = [getattr(state, name) for name in reads]
        digest = hashlib.blake2b(_encode((fields, state.seen)), digest_size=16)
        return f"{model}:{version}:{k}:{digest.hexdigest()}"

    async def get_many(self, keys: Sequence[str]) -> list[list[ScoredItem] | None]:
        """The cached answer per key, ``None`` for a miss (or for all, if the backend fails)."""
        if not keys:
            return []
        try:
            raw = await self._cache.multi_get(list(keys))
        except Exception as exc:
            self._failed("get", exc)
            return [None] * len(keys)
        self._recovered()
        found = [None if value is None else _decode_items(value) for value in raw]
        hits = sum(value is not None for value in found)
        self.metrics.cache_requests.labels("hit").inc(hits)
        self.metrics.cache_requests.labels("miss").inc(len(keys) - hits)
        return found

    async def put_many(self, pairs: Sequence[tuple[str, list[ScoredItem]]]) -> None:
        """Store fresh answers; a failure only costs future hits."""
        if not pairs:
            return
        try:
            await self._cache.multi_set([(key, _encode(items)) for key, items in pairs])
        except Exception as exc:
            self._failed("set", exc)
        else:
            self._recovered()

    async def rank(
        self, scorer: Scorer, requests: Sequence[tuple[UserFeatureState, int]]
    ) -> list[list[ScoredItem]]:
        """Top-K per (state, K): hits from the cache, the misses in one model call (at the
        largest K asked, each answer cut to its own K), then stored."""
        spec = scorer.manifest
        reads = state_fields(spec.feature_spec.builders(spec.inputs))
        keys = [self.key(scorer.name, scorer.version, k, state, reads) for state, k in requests]
        found = await self.get_many(keys)
        misses = [i for i, items in enumerate(found) if items is None]
        if misses:
            k_max = max(requests[i][1] for i in misses)
            fresh = await rank_states(scorer, [requests[i][0] for i in misses], k_max)
            stored = []
            for i, items in zip(misses, fresh, strict=True):
                found[i] = items = items[: requests[i][1]]
                stored.append((keys[i], items))
            await self.put_many(stored)
        return [items or [] for items in found]

    async def rank_each(
        self, scorer: Scorer, states: Sequence[UserFeatureState], k: int
    ) -> list[list[ScoredItem]]:
        """``rank`` with one K for every state (the stream's ranker signature)."""
        return await self.rank(scorer, [(state, k) for state in states])

    async def close(self) -> None:
        await self._cache.close()

    def _failed(self, op: str, exc: Exception) -> None:
        self.metrics.cache_errors.labels(op).inc()
        if not self._failing:
            self._failing = True
            logger.warning(
                "prediction cache %s failed (%s: %s); scoring without it until it answers "
                "again (check the backend at STREAMREC_CACHE_URL)",
                op, type(exc).__name__, exc,
            )  # fmt: skip

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("prediction cache answers again")
