"""Health handlers: readiness waits for the model and the tables and needs the broker and
passing batches; liveness waits for progress while the broker answers."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from msgspec.json import decode
from prometheus_client import CollectorRegistry

from app.http import health
from app.http.context import HttpContext
from app.metrics import AppMetrics
from app.worker.health_state import FAILED_BATCHES_UNREADY, WorkerHealth

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]


async def test_ready_once_the_model_is_loaded_and_the_tables_recovered(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    request = request_factory("GET", "/health/ready")
    response = await health.ready(ctx, request)
    assert response.status == 503
    assert decode(response.body) == {"ready": False, "broker_connected": True,
                                     "model_loaded": False, "tables_recovered": False,
                                     "rebalancing": False, "batches_failing": False,
                                     "reason": "no model version loaded yet; tables recovering",
                                     "partitions": [0, 1]}  # fmt: skip
    await ctx.model.load()
    ctx.app.recovered.set()  # type: ignore[attr-defined]
    response = await health.ready(ctx, request)
    assert response.status == 200 and decode(response.body)["ready"] is True
    assert decode(response.body)["reason"] is None
    # As Faust's View.json answered: the probes' answers name their charset.
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    ctx.app.rebalancing = True
    response = await health.ready(ctx, request)
    assert response.status == 503 and decode(response.body)["reason"] == "rebalancing"


async def test_not_live_once_a_batch_is_stuck_longer_than_the_stall_timeout(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory(stall_timeout_s=30.0)
    request = request_factory("GET", "/health/live")
    response = await health.live(ctx, request)
    assert response.status == 200
    assert decode(response.body) == {"alive": True, "batch_running_s": 0.0,
                                     "lag_without_commit_s": 0.0, "lag": 3,
                                     "broker_connected": True}  # fmt: skip
    ctx.agent.stalled_s = 30.5  # type: ignore[attr-defined]
    response = await health.live(ctx, request)
    assert response.status == 503 and decode(response.body)["batch_running_s"] == 30.5


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def ready_context(context_factory: Context, clock: Clock) -> HttpContext:
    """A context ready in every other respect, its health on ``clock``, the broker answering."""
    registry = CollectorRegistry()
    metrics = AppMetrics.create(registry)
    health_state = WorkerHealth(metrics, clock=clock)
    ctx = context_factory(registry=registry, metrics=metrics, health=health_state)
    await ctx.model.load()
    ctx.app.recovered.set()  # type: ignore[attr-defined]
    ctx.health.broker_seen(True)
    return ctx


def gauge(ctx: HttpContext) -> float | None:
    return ctx.registry.get_sample_value("streamrec_broker_connected")


async def test_not_ready_while_the_broker_is_unreachable_and_live_all_the_same(
    context_factory: Context, request_factory: Requests
) -> None:
    clock = Clock()
    ctx = await ready_context(context_factory, clock)
    ready, live = request_factory("GET", "/health/ready"), request_factory("GET", "/health/live")
    assert (await health.ready(ctx, ready)).status == 200 and gauge(ctx) == 1

    ctx.health.broker_seen(False, "refused")
    clock.now += 12
    # The batch in progress cannot be delivered and nothing commits: both clocks run.
    ctx.agent.stalled_s = 100.0  # type: ignore[attr-defined]
    ctx.progress.stuck_s = 100.0  # type: ignore[attr-defined]
    response = await health.ready(ctx, ready)
    body = decode(response.body)
    assert response.status == 503 and gauge(ctx) == 0
    assert body["broker_connected"] is False and body["reason"] == "broker unreachable for 12 s"
    # Not stuck while the broker is away: a restart would not bring it back.
    response = await health.live(ctx, live)
    assert response.status == 200 and decode(response.body)["broker_connected"] is False

    ctx.health.broker_seen(True)
    assert (await health.ready(ctx, ready)).status == 200 and gauge(ctx) == 1
    assert (await health.live(ctx, live)).status == 200  # stuck counts from its return
    clock.now += ctx.stall_timeout_s + 1
    assert (await health.live(ctx, live)).status == 503  # still stuck with the broker back


async def test_not_ready_while_every_batch_fails_and_ready_once_one_passes(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = await ready_context(context_factory, Clock())
    request = request_factory("GET", "/health/ready")
    for _ in range(FAILED_BATCHES_UNREADY - 1):
        ctx.health.batch_done(failed=True)
    assert (await health.ready(ctx, request)).status == 200  # one poison batch is not enough
    ctx.health.batch_done(failed=True)
    response = await health.ready(ctx, request)
    body = decode(response.body)
    assert response.status == 503 and body["batches_failing"] is True
    assert body["reason"].startswith(f"the last {FAILED_BATCHES_UNREADY} batches all failed")
    ctx.health.batch_done(failed=False)
    assert (await health.ready(ctx, request)).status == 200


async def test_not_ready_before_the_broker_is_first_reached(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory(health=WorkerHealth(AppMetrics.create(CollectorRegistry())))
    await ctx.model.load()
    ctx.app.recovered.set()  # type: ignore[attr-defined]
    response = await health.ready(ctx, request_factory("GET", "/health/ready"))
    assert response.status == 503
    assert decode(response.body)["reason"] == "broker not reached yet"


async def test_metrics_are_the_prometheus_exposition(
    context_factory: Context, request_factory: Requests
) -> None:
    response = await health.metrics(context_factory(), request_factory("GET", "/metrics"))
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert isinstance(response.body, bytes) and b"streamrec_" in response.body
