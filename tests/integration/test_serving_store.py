"""The Redis serving store (STREAMREC_REDIS_SINK_URL) on the machine's Redis (127.0.0.1:6379):
a hash per user, newest event wins, a TTL, one round trip per batch, fed by a real worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
import redis.asyncio as redis

from app.pipeline import BatchResult, LatestUpdate
from app.sinks import RedisLatestSink
from app.training.train import catalogue
from devtools.net import http_get, metric_value
from devtools.verify.check import make_traffic
from tests.support.deployment import Deployment

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"streamrec-test:{uuid.uuid4().hex[:8]}:"
    yield name
    client = redis.Redis.from_url(URL)
    keys = [key async for key in client.scan_iter(match=name + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def batch(*updates: tuple[str, int, bytes]) -> BatchResult:
    return BatchResult(
        latest=[LatestUpdate(user, 0, offset, value, None) for user, offset, value in updates]
    )


async def test_each_user_keeps_the_newest_update(prefix: str) -> None:
    sink = RedisLatestSink(URL, prefix=prefix, ttl_s=60, timeout_s=1, required=False)
    reader = redis.Redis.from_url(URL)
    try:
        assert await sink.write(batch(("a", 5, b'{"n":5}'), ("b", 1, b'{"n":1}'))) == 2
        # A replay of older positions (after a crash or a rebalance) leaves the entries alone.
        await sink.write(batch(("a", 4, b'{"n":4}'), ("a", 5, b'{"n":"again"}')))
        assert await reader.hget(prefix + "a", "update") == b'{"n":5}'
        await sink.write(batch(("a", 6, b'{"n":6}')))
        assert await reader.hget(prefix + "a", "update") == b'{"n":6}'
        assert await reader.hget(prefix + "b", "update") == b'{"n":1}'
        assert 0 < await reader.ttl(prefix + "a") <= 60
    finally:
        await sink.stop()
        await reader.aclose()


async def test_a_batch_is_one_round_trip(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = RedisLatestSink(URL, prefix=prefix, ttl_s=0, timeout_s=1, required=False)
    executed = []
    real_pipeline = sink._client.pipeline

    def counting_pipeline(**kwargs: object) -> object:
        pipe = real_pipeline(**kwargs)
        real_execute = pipe.execute

        async def execute(*args: object, **kw: object) -> object:
            executed.append(len(pipe.command_stack))
            return await real_execute(*args, **kw)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe

    monkeypatch.setattr(sink._client, "pipeline", counting_pipeline)
    try:
        await sink.write(batch(*[(f"u{n}", n, b"{}") for n in range(50)]))
        assert executed == [50]
        reader = redis.Redis.from_url(URL)
        assert await reader.ttl(prefix + "u7") == -1  # TTL 0: kept for ever
        await reader.aclose()
    finally:
        await sink.stop()


async def test_an_unreachable_redis_raises_for_the_delivery_loop_to_count() -> None:
    sink = RedisLatestSink(
        "redis://127.0.0.1:1/0", prefix="x:", ttl_s=0, timeout_s=0.5, required=False
    )
    with pytest.raises(redis.ConnectionError):
        await sink.write(batch(("a", 1, b"{}")))
    await sink.stop()


async def test_a_worker_keeps_every_users_latest_update_in_redis(
    deployment_factory: Callable[..., Deployment], prefix: str
) -> None:
    d = deployment_factory(STREAMREC_REDIS_SINK_URL=URL, STREAMREC_REDIS_SINK_PREFIX=prefix)
    await d.create_topics()
    worker = d.start_worker()
    traffic = make_traffic(20, 5, catalogue())
    report = await d.verify(traffic, rate=0)
    assert report.ok, report.summary()

    reader = redis.Redis.from_url(URL)
    try:
        for user, event_ids in traffic.valid.items():
            status, view = http_get(f"{worker.web_url}/recommendations/{user}/")
            assert status == 200
            # What an app server reads is what the view and the topic say: the newest update.
            stored = await reader.hget(prefix + user, "update")
            assert stored == view, user
            assert msgspec.json.decode(stored)["event_id"] == event_ids[-1]
    finally:
        await reader.aclose()
    assert metric_value(worker.web_url, 'streamrec_sink_records_total{sink="redis"}') >= 20
