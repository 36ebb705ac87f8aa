"""The route table on a Faust web server: every route at both spellings of its path, each
answered by its handler with the context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer
from faust.exceptions import SameNode
from faust.web import Request, Response, Web
from msgspec.json import decode

from app.http.context import HttpContext
from app.http.routes import ROUTES, register_routes

Context = Callable[..., HttpContext]


def spellings(path: str) -> set[str]:
    return {path} if path == "/" else {path.rstrip("/"), path.rstrip("/") + "/"}


class Router:
    """Faust's router as the per-user views use it: this worker owns the users in ``here``;
    another answers the rest (``asked``: each (table, key) looked up)."""

    def __init__(self, here: set[str]) -> None:
        self.here = here
        self.asked: list[tuple[str, str]] = []

    async def route_req(self, table: str, key: str, web: Web, request: Request) -> Response:
        self.asked.append((table, key))
        if key in self.here:
            raise SameNode()
        return web.text("from the owner", status=200)


@pytest.fixture
async def served(context_factory: Context) -> AsyncIterator[tuple[faust.App, TestClient]]:
    app = faust.App("routes-test", autodiscover=False, web_in_thread=False)
    ctx = context_factory(app=app)
    ctx.latest["42"] = b'{"items":[]}'
    app.router = Router(here={"42", "43"})
    register_routes(ctx)
    async with TestClient(TestServer(app.web.web_app)) as client:
        yield app, client


def test_the_table_has_one_route_per_method_and_path() -> None:
    keys = [(route.method, route.path) for route in ROUTES]
    assert len(keys) == len(set(keys))
    assert {"/health/live", "/health/ready"} <= {route.path for route in ROUTES}


async def test_every_route_answers_at_both_spellings(
    served: tuple[faust.App, TestClient],
) -> None:
    app, _ = served
    registered = {(r.method, r.resource.canonical) for r in app.web.web_app.router.routes()
                  if r.resource is not None}  # fmt: skip
    for route in ROUTES:
        for path in spellings(route.path):
            assert (route.method, path) in registered, (route.method, path)
            if route.method == "GET":
                assert ("HEAD", path) in registered


async def test_a_handler_answers_through_its_faust_view(
    served: tuple[faust.App, TestClient],
) -> None:
    _, client = served
    for path in ("/health/live", "/health/live/"):
        response = await client.get(path)
        assert response.status == 200 and decode(await response.read())["alive"] is True
    response = await client.post("/v2/models/other/infer", data=b"{}")
    assert response.status == 404 and "unknown model" in decode(await response.read())["error"]


async def test_a_per_user_route_answers_on_the_owner_and_forwards_elsewhere(
    served: tuple[faust.App, TestClient],
) -> None:
    app, client = served
    response = await client.get("/recommendations/42")
    assert (response.status, await response.read()) == (200, b'{"items":[]}')
    response = await client.get("/features/43/")
    assert response.status == 404
    assert decode(await response.read()) == {"error": "no features for user '43'"}
    assert await (await client.get("/recommendations/7/")).text() == "from the owner"
    assert app.router.asked == [("latest", "42"), ("features", "43"), ("latest", "7")]
