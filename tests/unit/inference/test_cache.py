"""The prediction cache: keys that change with every input, batch calls, failures as misses."""

from __future__ import annotations

import socket

from prometheus_client import CollectorRegistry

from app.features.state import UserFeatureState
from app.inference.cache import PredictionCache
from app.metrics import AppMetrics
from app.records import ScoredItem

STATE = UserFeatureState(recent=("1", "2", "1"), seen=("1", "2"))
ITEMS = [ScoredItem("50", 3.5), ScoredItem("7", 1.25)]


def cache(url: str = "memory://") -> tuple[PredictionCache, CollectorRegistry]:
    registry = CollectorRegistry()
    return PredictionCache(url, 10.0, 0.5, AppMetrics.create(registry)), registry


def count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_the_key_changes_with_model_version_k_and_every_input() -> None:
    key = PredictionCache.key("itemsvd", "1", 10, STATE)
    assert key == PredictionCache.key(
        "itemsvd", "1", 10, UserFeatureState(("1", "2", "1"), ("1", "2"))
    )
    others = {
        PredictionCache.key("sasrec", "1", 10, STATE),
        PredictionCache.key("itemsvd", "2", 10, STATE),
        PredictionCache.key("itemsvd", "1", 5, STATE),
        PredictionCache.key("itemsvd", "1", 10, UserFeatureState(("1", "2"), ("1", "2"))),
        PredictionCache.key("itemsvd", "1", 10, UserFeatureState(("2", "1", "1"), ("1", "2"))),
        PredictionCache.key("itemsvd", "1", 10, UserFeatureState(("1", "2", "1"), ("1", "2", "3"))),
    }
    assert key not in others and len(others) == 6
    # Fields the model does not read do not split the key.
    assert key == PredictionCache.key(
        "itemsvd", "1", 10, UserFeatureState(STATE.recent, STATE.seen, n_events=3)
    )


async def test_answers_are_stored_and_found_per_batch_and_counted() -> None:
    c, registry = cache()
    keys = [PredictionCache.key("itemsvd", "1", 10, STATE), "other"]
    assert await c.get_many(keys) == [None, None]
    await c.put_many([(keys[0], ITEMS)])
    assert await c.get_many(keys) == [ITEMS, None]
    assert count(registry, "streamrec_cache_requests_total", result="hit") == 1
    assert count(registry, "streamrec_cache_requests_total", result="miss") == 3
    assert count(registry, "streamrec_cache_errors_total", op="get") == 0
    await c.close()


async def test_an_unreachable_backend_is_a_miss_and_an_error_never_a_failure() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c, registry = cache(f"redis://127.0.0.1:{port}/0")
    assert await c.get_many(["a", "b"]) == [None, None]
    await c.put_many([("a", ITEMS)])
    assert count(registry, "streamrec_cache_errors_total", op="get") == 1
    assert count(registry, "streamrec_cache_errors_total", op="set") == 1
    assert count(registry, "streamrec_cache_requests_total", result="hit") == 0
    await c.close()
