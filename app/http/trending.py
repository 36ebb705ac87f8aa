"""``GET /trending/``: the deployment's top items of a window, answered by any worker."""

from __future__ import annotations

import faust
import msgspec
from faust.web import Request, Response, View

from app.http.pages import page
from app.trending.board import TrendingBoard

__all__ = ["register_trending_view"]

DEFAULT_N = 10


def register_trending_view(app: faust.App, board: TrendingBoard, enabled: bool) -> None:
    """Add the trending view to ``app``'s web server (with TRENDING off it says so)."""

    @page(app, "/trending/")
    class TrendingView(View):
        """Top items of a window (``window``: its start in epoch seconds, the current one by
        default; ``n``: how many, 1 to TRENDING_TOP_N, 10 by default) with their counts, the
        window's bounds, the windows kept, and how many partitions have reported."""

        async def get(self, request: Request) -> Response:
            if not enabled:
                return self._error("trending is off on this deployment: set "
                                   "STREAMREC_TRENDING=true to count trends", 404)  # fmt: skip
            top_n = board.config.top_n
            try:
                n = int(request.query.get("n", DEFAULT_N))
                window = request.query.get("window")
                start = None if window is None else float(window)
            except ValueError:
                return self._error("n must be an integer and window a window start (epoch "
                                   "seconds, one of the answer's windows)", 400)  # fmt: skip
            if not 1 <= n <= top_n:
                return self._error(f"n must be from 1 to {top_n} (TRENDING_TOP_N)", 400)
            body = board.view(start, n)
            if body is None:
                return self._error(f"no window starts at {window} (kept: see windows)", 404,
                                   windows=sorted(board.windows(), reverse=True))  # fmt: skip
            return self.bytes(msgspec.json.encode(body), content_type="application/json")

        def _error(self, message: str, status: int, **more: object) -> Response:
            body = msgspec.json.encode({"error": message, **more})
            return self.bytes(body, content_type="application/json", status=status)
