"""Per-user handlers (on the owning worker): the stored value, or 404 naming the user."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from msgspec.json import decode

from app.features.state import state_from_items
from app.http import users
from app.http.context import HttpContext

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]


async def test_the_latest_update_is_answered_as_the_stream_sent_it(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    ctx.latest["42"] = b'{"user_id":"42","items":[]}'
    response = await users.recommendations(ctx, request_factory("GET", "/"), "42")
    assert (response.status, response.body) == (200, b'{"user_id":"42","items":[]}')
    assert response.content_type == "application/json"
    response = await users.recommendations(ctx, request_factory("GET", "/"), "7")
    assert response.status == 404
    assert decode(response.body) == {"error": "no recommendations for user '7'"}


async def test_the_feature_state_is_answered_as_json(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    ctx.features["42"] = state_from_items(["50", "172"])
    response = await users.features(ctx, request_factory("GET", "/"), "42")
    assert response.status == 200 and decode(response.body)["recent"] == ["50", "172"]
