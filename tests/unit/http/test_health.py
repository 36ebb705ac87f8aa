"""Health handlers: readiness waits for the model and the tables, liveness for progress."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from msgspec.json import decode

from app.http import health
from app.http.context import HttpContext

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]


async def test_ready_once_the_model_is_loaded_and_the_tables_recovered(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    request = request_factory("GET", "/health/ready")
    response = await health.ready(ctx, request)
    assert response.status == 503
    assert decode(response.body) == {"ready": False, "model_loaded": False,
                                     "tables_recovered": False, "rebalancing": False,
                                     "partitions": [0, 1]}  # fmt: skip
    await ctx.model.load()
    ctx.app.recovered.set()  # type: ignore[attr-defined]
    response = await health.ready(ctx, request)
    assert response.status == 200 and decode(response.body)["ready"] is True
    # As Faust's View.json answered: the probes' answers name their charset.
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    ctx.app.rebalancing = True
    assert (await health.ready(ctx, request)).status == 503


async def test_not_live_once_a_batch_is_stuck_longer_than_the_stall_timeout(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory(stall_timeout_s=30.0)
    request = request_factory("GET", "/health/live")
    response = await health.live(ctx, request)
    assert response.status == 200
    assert decode(response.body) == {"alive": True, "batch_running_s": 0.0,
                                     "lag_without_commit_s": 0.0, "lag": 3}  # fmt: skip
    ctx.agent.stalled_s = 30.5  # type: ignore[attr-defined]
    response = await health.live(ctx, request)
    assert response.status == 503 and decode(response.body)["batch_running_s"] == 30.5


async def test_metrics_are_the_prometheus_exposition(
    context_factory: Context, request_factory: Requests
) -> None:
    response = await health.metrics(context_factory(), request_factory("GET", "/metrics"))
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert isinstance(response.body, bytes) and b"streamrec_" in response.body
