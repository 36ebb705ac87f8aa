"""The model handlers: the report once a model serves, and the admin actions' answers."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from msgspec.json import decode

from app.http import models
from app.http.context import HttpContext
from app.rollout.admin import AdminAuth

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]

TOKEN = "s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def test_the_report_waits_for_a_model_then_shows_its_arms(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    request = request_factory("GET", "/models/")
    response = await models.models(ctx, request)
    assert (response.status, decode(response.body)) == (503, {"error": "no model loaded yet"})
    await ctx.model.load()
    response = await models.models(ctx, request)
    report = decode(response.body)
    assert [(arm["variant"], arm["version"]) for arm in report["arms"]] == [("main", "1")]
    assert report["api_models"] == []  # none asked for by the inference API yet


async def test_admin_actions_need_the_token_and_refusals_are_counted(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory(auth=AdminAuth(TOKEN))
    no_token = request_factory("POST", "/models/itemsvd/reload")
    response = await models.model_action(ctx, no_token, "itemsvd", "reload")
    assert response.status == 401 and "WWW-Authenticate" in response.headers
    counted = {"via": "http", "reason": "missing"}
    assert ctx.registry.get_sample_value("streamrec_admin_denied_total", counted) == 1.0
    response = await models.model_action(context_factory(), no_token, "itemsvd", "reload")
    assert response.status == 403  # no token configured: admin is disabled


async def test_admin_actions_answer_what_serves_or_why_nothing_changed(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory(auth=AdminAuth(TOKEN))
    await ctx.model.load()

    async def post(name: str, action: str) -> web.Response:
        request = request_factory("POST", f"/models/{name}/{action}", headers=ADMIN)
        return await models.model_action(ctx, request, name, action)

    assert (await post("other", "reload")).status == 404
    response = await post("itemsvd", "restart")
    assert response.status == 404 and "reload or rollback" in decode(response.body)["error"]
    response = await post("itemsvd", "rollback")  # one version served: nothing to go back to
    assert response.status == 409
    assert decode(response.body) == {"error": "itemsvd: no earlier version served by this "
                                              "worker", "serving": "1"}  # fmt: skip
    response = await post("itemsvd", "reload")
    assert (response.status, decode(response.body)) == (200, {"serving": "1", "before": "1"})
