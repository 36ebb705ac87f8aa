"""Every web route in one table, and ``register_routes``, which serves them from the Faust
web server: one Faust view per path, each answering at both spellings of its path.

Users, load balancers and probes type a path with or without its final ``/``; Faust
(aiohttp) matches paths exactly, so each route is also registered at the other spelling
(the root has one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
from aiohttp import web
from faust.web import Request, Response, View

from app.http import health, models, oip, operator_page, trending, users
from app.http.context import HttpContext

__all__ = ["ROUTES", "Handler", "Route", "register_routes"]

Handler = Callable[..., Awaitable[web.Response]]
"""``async (ctx, request, **match_info) -> response``: a handler in this package."""

ViewMethod = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """One method at one path, and the handler that answers it."""

    method: str
    path: str
    handler: Handler
    by_user: Callable[[HttpContext], faust.Table[str, Any]] | None = None
    """The table whose owner of ``{user_id}`` answers; another worker forwards to it."""


ROUTES: tuple[Route, ...] = (
    Route("GET", "/recommendations/{user_id}/", users.recommendations, lambda ctx: ctx.latest),
    Route("GET", "/features/{user_id}/", users.features, lambda ctx: ctx.features),
    Route("GET", "/health/live", health.live),
    Route("GET", "/health/ready", health.ready),
    Route("GET", "/metrics", health.metrics),
    Route("GET", "/models/", models.models),
    Route("POST", "/models/{name}/{action}", models.model_action),
    Route("GET", "/v2", oip.server_metadata),
    Route("GET", "/v2/health/live", oip.live),
    Route("GET", "/v2/health/ready", oip.ready),
    Route("GET", "/v2/models/{name}", oip.metadata),
    Route("GET", "/v2/models/{name}/ready", oip.model_ready),
    Route("POST", "/v2/models/{name}/infer", oip.infer),
    Route("GET", "/v2/models/{name}/versions/{version}", oip.metadata),
    Route("GET", "/v2/models/{name}/versions/{version}/ready", oip.model_ready),
    Route("POST", "/v2/models/{name}/versions/{version}/infer", oip.infer),
    Route("GET", "/trending/", trending.top_items),
    # Faust adds its own index ({"status": "OK"}) when the web server starts, after this;
    # aiohttp answers with the first route that matches: this one (the browser test checks).
    Route("GET", "/", operator_page.operator_page),
)


def register_routes(ctx: HttpContext, routes: tuple[Route, ...] = ROUTES) -> None:
    """Serve ``routes`` from the web server of ``ctx.app``, handlers reading ``ctx``."""
    app = ctx.app
    by_path: dict[str, list[Route]] = {}
    for route in routes:
        by_path.setdefault(route.path, []).append(route)
    for path, same_path in by_path.items():
        first = same_path[0].handler
        methods = {route.method.lower(): _view_method(ctx, route) for route in same_path}
        view = cast(type[View], type(first.__name__, (View,), methods))
        app.page(path, name=f"{first.__module__}.{first.__name__}")(view)
        if path != "/":
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            app.web.route(other, app.web.views[path], None)


def _view_method(ctx: HttpContext, route: Route) -> ViewMethod:
    """The Faust view method that answers ``route`` with its handler."""
    handler = route.handler

    async def answer(view: View, request: Request, **match_info: str) -> Response:
        response = await handler(ctx, cast(web.Request, request), **match_info)
        return cast(Response, response)

    if route.by_user is None:
        return answer
    # ``table_route`` finds the owner by the key as the table's key serializer encodes it:
    # the tables are raw-keyed (``raw_key_table``) like the producers' keys, so the worker it
    # finds is the one holding the user's state.
    route_by_user = ctx.app.table_route(table=route.by_user(ctx), match_info="user_id")
    return cast(ViewMethod, route_by_user(answer))  # type: ignore[arg-type]
