"""The served model: ``GET /models/`` (versions and arms) and the admin actions
``POST /models/{name}/reload`` and ``/rollback``."""

from __future__ import annotations

import logging

from aiohttp import web

from app.errors import StreamrecError
from app.http import errors, responses
from app.http.context import HttpContext

__all__ = ["model_action", "models"]

logger = logging.getLogger(__name__)

ACTIONS = ("reload", "rollback")


async def models(ctx: HttpContext, request: web.Request) -> web.Response:
    """Versions (offline metrics), the arms in service (main, canary, shadow) with traffic
    shares and this worker's live figures, and the main model's manifest."""
    if ctx.model.current is None:
        return errors.error(503, "no model loaded yet")
    return responses.json(ctx.models_report())


async def model_action(
    ctx: HttpContext, request: web.Request, name: str, action: str
) -> web.Response:
    """Reload (serve the newest version that is neither the canary nor refused) or roll back
    (to the one served before), on this worker.

    Admin only (``Authorization: Bearer <STREAMREC_ADMIN_TOKEN>``): 401 without or with a
    wrong token, 403 when no token is configured. The new version is loaded, checked and
    warmed up off the event loop, then swapped in between batches; if anything fails,
    the current model keeps serving (409 and why).
    """
    refused = ctx.auth.check_bearer(request.headers.get("Authorization"))
    if refused is not None:
        ctx.metrics.admin_denied.labels("http", refused.reason).inc()
        logger.warning("refused %s of %s: %s", action, name, refused.reason)
        return errors.denied(refused)
    model = ctx.model
    if name != model.name:
        return errors.error(404, f"unknown model {name!r}")
    if action not in ACTIONS:
        return errors.error(404, f"unknown action {action!r}: reload or rollback")
    before = model.current.version if model.current else None
    try:
        scorer = await (ctx.rollout.reload_main() if action == "reload" else model.rollback())
    except StreamrecError as exc:
        logger.error("model %s of %s refused: %s", action, name, exc)
        return errors.from_error(exc, serving=before)
    return responses.json({"serving": scorer.version, "before": before})
