"""``GET /trending/``: the deployment's top items of a window, answered by any worker."""

from __future__ import annotations

from aiohttp import web

from app.http import errors, responses
from app.http.context import HttpContext

__all__ = ["DEFAULT_N", "top_items"]

DEFAULT_N = 10


async def top_items(ctx: HttpContext, request: web.Request) -> web.Response:
    """Top items of a window (``window``: its start in epoch seconds, the current one by
    default; ``n``: how many, 1 to TRENDING_TOP_N, 10 by default) with their counts, the
    window's bounds, the windows kept, and how many partitions have reported (with TRENDING
    off it says so)."""
    if not ctx.trending:
        return errors.error(404, "trending is off on this deployment: set "
                                 "STREAMREC_TRENDING=true to count trends")  # fmt: skip
    board = ctx.board
    top_n = board.config.top_n
    try:
        n = int(request.query.get("n", DEFAULT_N))
        window = request.query.get("window")
        start = None if window is None else float(window)
    except ValueError:
        return errors.error(400, "n must be an integer and window a window start (epoch "
                                 "seconds, one of the answer's windows)")  # fmt: skip
    if not 1 <= n <= top_n:
        return errors.error(400, f"n must be from 1 to {top_n} (TRENDING_TOP_N)")
    body = board.view(start, n)
    if body is None:
        return errors.error(404, f"no window starts at {window} (kept: see windows)",
                            windows=sorted(board.windows(), reverse=True))  # fmt: skip
    return responses.json(body)
