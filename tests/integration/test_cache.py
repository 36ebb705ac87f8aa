"""The prediction cache on the machine's real Redis (127.0.0.1:6379), shared by workers."""

from __future__ import annotations

import asyncio
import uuid

from prometheus_client import CollectorRegistry

from app.features.state import UserFeatureState
from app.inference.cache import PredictionCache
from app.metrics import AppMetrics
from app.records import ScoredItem

REDIS = "redis://127.0.0.1:6379/0"


def cache(ttl_s: float = 30.0) -> tuple[PredictionCache, CollectorRegistry]:
    registry = CollectorRegistry()
    return PredictionCache(REDIS, ttl_s, 0.5, AppMetrics.create(registry)), registry


async def test_two_workers_share_answers_through_redis_and_they_expire() -> None:
    first, _ = cache(ttl_s=1.0)
    second, registry = cache()
    model = f"test-{uuid.uuid4().hex[:8]}"  # keys of this test only
    state = UserFeatureState(recent=("1", "2"), seen=("1", "2"))
    key = PredictionCache.key(model, "1", 10, state)
    items = [ScoredItem("3", 0.5), ScoredItem("4", 0.25)]

    assert await second.get_many([key]) == [None]
    await first.put_many([(key, items)])
    assert await second.get_many([key]) == [items]  # written by one, read by the other
    assert registry.get_sample_value("streamrec_cache_requests_total", {"result": "hit"}) == 1
    assert registry.get_sample_value("streamrec_cache_errors_total", {"op": "get"}) == 0

    # A new model version never reads the old version's answer; the TTL holds on Redis.
    assert await second.get_many([PredictionCache.key(model, "2", 10, state)]) == [None]
    await asyncio.sleep(1.5)
    assert await second.get_many([key]) == [None]
    await first.close()
    await second.close()
