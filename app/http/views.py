"""Web views on the Faust web server: per-user state (routed to the owning worker), health,
metrics and the served model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust
import msgspec
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.errors import StreamrecError
from app.features.state import UserFeatureState
from app.http.pages import page
from app.inference.serving import ServedModel
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout
from app.worker.agent import RecommendAgent
from app.worker.faust_compat import tables_recovered
from app.worker.progress import ProgressMonitor

__all__ = ["liveness", "readiness", "register_views"]

logger = logging.getLogger(__name__)


def _json(view: View, body: bytes, status: int = 200) -> Response:
    return view.bytes(body, content_type="application/json", status=status)


def _not_found(view: View, what: str, user_id: str) -> Response:
    return _json(view, msgspec.json.encode({"error": f"no {what} for user {user_id!r}"}), 404)


def readiness(app: faust.App, model: ServedModel) -> dict[str, bool]:
    """Ready: tables recovered, the model warm, no rebalance in progress; and each check."""
    checks = {
        "model_loaded": model.ready,
        "tables_recovered": tables_recovered(app),
        "rebalancing": app.rebalancing,
    }
    ready = checks["model_loaded"] and checks["tables_recovered"] and not checks["rebalancing"]
    return {"ready": ready, **checks}


def liveness(
    agent: RecommendAgent, progress: ProgressMonitor, stall_timeout_s: float
) -> dict[str, Any]:
    """Alive unless a batch, or the worker's commits while it has lag, have been stuck for
    longer than STALL_TIMEOUT_S; and the figures that say which."""
    stalled, stuck = agent.stalled_for(), progress.stuck_for()
    return {
        "alive": stalled <= stall_timeout_s and stuck <= stall_timeout_s,
        "batch_running_s": round(stalled, 3),
        "lag_without_commit_s": round(stuck, 3),
        "lag": sum(progress.lag.values()),
    }


def register_views(
    app: faust.App,
    features: faust.Table[str, UserFeatureState],
    latest: faust.Table[str, bytes],
    rollout: Rollout,
    registry: CollectorRegistry,
    agent: RecommendAgent,
    progress: ProgressMonitor,
    stall_timeout_s: float,
    output_topic: str,
    shadow_topic: str,
    auth: AdminAuth,
    denied: Callable[[str], None] = lambda reason: None,
) -> None:
    """Add streamrec's views to ``app``'s web server (``denied``: told each refused admin
    request's reason)."""
    model = rollout.main

    @page(app, "/recommendations/{user_id}/")
    class RecommendationsView(View):
        """The user's latest recommendation update, answered by the worker owning the user."""

        @app.table_route(table=latest, match_info="user_id")  # type: ignore[arg-type]
        async def get(self, request: Request, user_id: str) -> Response:
            value = latest.get(user_id)
            if value is None:
                return _not_found(self, "recommendations", user_id)
            return _json(self, value)

    @page(app, "/features/{user_id}/")
    class FeaturesView(View):
        """The user's feature state, answered by the worker owning the user."""

        @app.table_route(table=features, match_info="user_id")  # type: ignore[arg-type]
        async def get(self, request: Request, user_id: str) -> Response:
            state = features.get(user_id)
            if state is None:
                return _not_found(self, "features", user_id)
            return _json(self, msgspec.json.encode(state))

    @page(app, "/health/live")
    class LiveView(View):
        """200 while the worker makes progress; 503 once one batch has been stuck (for example
        in delivery retries), or the worker has had lag without committing, for longer than
        STALL_TIMEOUT_S, so an orchestrator restarts it."""

        async def get(self, request: Request) -> Response:
            body = liveness(agent, progress, stall_timeout_s)
            return self.json(body, status=200 if body["alive"] else 503)

    @page(app, "/health/ready")
    class ReadyView(View):
        """200 once tables are recovered and the model is warm; 503 before (and in rebalances).
        The body has each check and the input partitions this worker owns."""

        async def get(self, request: Request) -> Response:
            checks = readiness(app, model)
            body = {**checks, "partitions": progress.owned()}
            return self.json(body, status=200 if checks["ready"] else 503)

    @page(app, "/metrics")
    class MetricsView(View):
        """Prometheus text exposition of this worker's metrics."""

        async def get(self, request: Request) -> Response:
            # aiohttp refuses a charset inside content_type=, so the header is set whole.
            return self.bytes(
                generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

    @page(app, "/models/")
    class ModelsView(View):
        """Versions (offline metrics), the arms in service (main, canary, shadow) with traffic
        shares and this worker's live figures, and the main model's manifest."""

        async def get(self, request: Request) -> Response:
            if model.current is None:
                return _json(self, msgspec.json.encode({"error": "no model loaded yet"}), 503)
            report = rollout.report(registry, output_topic, shadow_topic)
            return _json(self, msgspec.json.encode(report))

    @page(app, "/models/{name}/{action}")
    class ModelActionView(View):
        """POST reload (serve the newest version that is neither the canary nor refused) or
        rollback (the one served before), on this worker.

        Admin only (``Authorization: Bearer <STREAMREC_ADMIN_TOKEN>``): 401 without or with a
        wrong token, 403 when no token is configured. The new version is loaded, checked and
        warmed up off the event loop, then swapped in between batches; if anything fails,
        the current model keeps serving (409 and why).
        """

        async def post(self, request: Request, name: str, action: str) -> Response:
            refused = auth.check_bearer(request.headers.get("Authorization"))
            if refused is not None:
                denied(refused.reason)
                logger.warning("refused %s of %s: %s", action, name, refused.reason)
                response = _json(self, msgspec.json.encode({"error": refused.message}),
                                 refused.status)  # fmt: skip
                if refused.status == 401:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="streamrec admin"'
                return response
            if name != model.name:
                return _json(self, msgspec.json.encode({"error": f"unknown model {name!r}"}), 404)
            actions = {"reload": rollout.reload_main, "rollback": model.rollback}
            if action not in actions:
                error = {"error": f"unknown action {action!r}: reload or rollback"}
                return _json(self, msgspec.json.encode(error), 404)
            before = model.current.version if model.current else None
            try:
                scorer = await actions[action]()
            except StreamrecError as exc:
                logger.error("model %s of %s refused: %s", action, name, exc)
                body = {"error": str(exc), "serving": before}
                return _json(self, msgspec.json.encode(body), 409)
            return _json(self, msgspec.json.encode({"serving": scorer.version, "before": before}))
