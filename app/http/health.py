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


def readiness(ctx: HttpContext) -> dict[str, Any]:
    """Ready: the broker answers, tables recovered, the model warm, no rebalance in progress,
    batches passing; each check, and ``reason`` (None when ready) for a person to read."""
    health = ctx.health
    checks = {
        "broker_connected": health.broker_connected,
        "model_loaded": ctx.model.ready,
        "tables_recovered": tables_recovered(ctx.app),
        "rebalancing": ctx.app.rebalancing,
        "batches_failing": health.batches_failing,
    }
    reasons = [
        health.broker_problem(),
        None if checks["model_loaded"] else "no model version loaded yet",
        None if checks["tables_recovered"] else "tables recovering",
        "rebalancing" if checks["rebalancing"] else None,
        health.batches_problem(),
    ]
    reason = "; ".join(r for r in reasons if r) or None
    return {"ready": reason is None, **checks, "reason": reason}


def liveness(ctx: HttpContext) -> dict[str, Any]:
    """Alive unless a batch, or the worker's commits while it has lag, have been stuck for
    longer than STALL_TIMEOUT_S; and the figures that say which.

    Stuck counts only while the broker answers: an unreachable broker stalls deliveries and
    commits, and a restart would not bring it back (readiness says it is gone), so an
    orchestrator does not restart every worker through a broker outage. Once the broker is
    back, a batch or the commits still stuck STALL_TIMEOUT_S later fail liveness again."""
    stalled, stuck = ctx.agent.stalled_for(), ctx.progress.stuck_for()
    up = ctx.health.broker_up_s()
    return {
        "alive": min(stalled, up) <= ctx.stall_timeout_s and min(stuck, up) <= ctx.stall_timeout_s,
        "batch_running_s": round(stalled, 3),
        "lag_without_commit_s": round(stuck, 3),
        "lag": sum(ctx.progress.lag.values()),
        "broker_connected": ctx.health.broker_connected,
    }


async def live(ctx: HttpContext, request: web.Request) -> web.Response:
    """200 while the worker makes progress; 503 once one batch has been stuck (for example
    in delivery retries), or the worker has had lag without committing, for longer than
    STALL_TIMEOUT_S while the broker answers, so an orchestrator restarts it."""
    body = liveness(ctx)
    return _answer(body, 200 if body["alive"] else 503)


async def ready(ctx: HttpContext, request: web.Request) -> web.Response:
    """200 once tables are recovered and the model is warm; 503 before, in rebalances, while
    the broker does not answer and while every batch fails. The body has each check, the
    reason when not ready, and the input partitions this worker owns."""
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
