"""Health and metrics: ``/health/live``, ``/health/ready`` (the orchestrator's probes) and
``/metrics`` (Prometheus)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.http import responses
from app.http.context import HttpContext
from app.worker.faust_compat import tables_recovered

__all__ = ["live", "liveness", "metrics", "readiness", "ready"]


def readiness(ctx: HttpContext) -> dict[str, bool]:
    """Ready: tables recovered, the model warm, no rebalance in progress; and each check."""
    checks = {
        "model_loaded": ctx.model.ready,
        "tables_recovered": tables_recovered(ctx.app),
        "rebalancing": ctx.app.rebalancing,
    }
    ready = checks["model_loaded"] and checks["tables_recovered"] and not checks["rebalancing"]
    return {"ready": ready, **checks}


def liveness(ctx: HttpContext) -> dict[str, Any]:
    """Alive unless a batch, or the worker's commits while it has lag, have been stuck for
    longer than STALL_TIMEOUT_S; and the figures that say which."""
    stalled, stuck = ctx.agent.stalled_for(), ctx.progress.stuck_for()
    return {
        "alive": stalled <= ctx.stall_timeout_s and stuck <= ctx.stall_timeout_s,
        "batch_running_s": round(stalled, 3),
        "lag_without_commit_s": round(stuck, 3),
        "lag": sum(ctx.progress.lag.values()),
    }


async def live(ctx: HttpContext, request: web.Request) -> web.Response:
    """200 while the worker makes progress; 503 once one batch has been stuck (for example
    in delivery retries), or the worker has had lag without committing, for longer than
    STALL_TIMEOUT_S, so an orchestrator restarts it."""
    body = liveness(ctx)
    return _answer(body, 200 if body["alive"] else 503)


async def ready(ctx: HttpContext, request: web.Request) -> web.Response:
    """200 once tables are recovered and the model is warm; 503 before (and in rebalances).
    The body has each check and the input partitions this worker owns."""
    checks = readiness(ctx)
    body = {**checks, "partitions": ctx.progress.owned()}
    return _answer(body, 200 if checks["ready"] else 503)


async def metrics(ctx: HttpContext, request: web.Request) -> web.Response:
    """Prometheus text exposition of this worker's metrics."""
    # aiohttp refuses a charset inside content_type=, so the header is set whole.
    body = generate_latest(ctx.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _answer(body: dict[str, Any], status: int) -> web.Response:
    # The probes' answers have always named their charset (they were Faust's View.json).
    return responses.json(body, status, charset="utf-8")
