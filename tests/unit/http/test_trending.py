"""``GET /trending/``: the board's view, and a 4xx naming what is wrong with the query."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from msgspec.json import decode

from app.http import trending
from app.http.context import HttpContext

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]


async def test_the_query_is_checked_and_trending_off_says_so(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    response = await trending.top_items(ctx, request_factory("GET", "/trending/"))
    body = decode(response.body)
    assert (response.status, body["items"], body["partitions"]) == (
        200, [], {"reported": 0, "of": 4},
    )  # fmt: skip
    for query, status, says in (("n=x", 400, "n must be an integer"),
                                ("n=21", 400, "from 1 to 20 (TRENDING_TOP_N)"),
                                ("window=3600", 404, "no window starts at 3600")):  # fmt: skip
        response = await trending.top_items(ctx, request_factory("GET", f"/trending/?{query}"))
        assert response.status == status and says in decode(response.body)["error"], query
    off = context_factory(trending=False)
    response = await trending.top_items(off, request_factory("GET", "/trending/"))
    assert response.status == 404 and "STREAMREC_TRENDING=true" in decode(response.body)["error"]
