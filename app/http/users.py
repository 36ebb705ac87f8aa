"""Per-user views: ``/recommendations/{user_id}/`` and ``/features/{user_id}/``.

They run on the worker that owns the user: ``app.http.routes`` forwards a request for a user
another worker owns to that worker first.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from app.http import errors, responses
from app.http.context import HttpContext

__all__ = ["features", "recommendations"]


async def recommendations(ctx: HttpContext, request: web.Request, user_id: str) -> web.Response:
    """The user's latest recommendation update, as the stream sent it."""
    value = ctx.latest.get(user_id)
    if value is None:
        return _not_found("recommendations", user_id)
    return responses.raw_json(value)


async def features(ctx: HttpContext, request: web.Request, user_id: str) -> web.Response:
    """The user's feature state (the model's input)."""
    state = ctx.features.get(user_id)
    if state is None:
        return _not_found("features", user_id)
    return responses.raw_json(msgspec.json.encode(state))


def _not_found(what: str, user_id: str) -> web.Response:
    return errors.error(404, f"no {what} for user {user_id!r}")
