"""``GET /``: the operator page, plain HTML rendered by the worker, refreshing itself.

What one worker knows, for a person rather than a program: its partitions, readiness and
liveness, events in and updates out per second, lag, end-to-end p99, dead letters by reason,
the model arms with their live figures, the trending list, and a user lookup (``?user=ID``)
showing the user's recent items and current recommendations with titles (from the served
version's optional ``titles_file``). The JSON views stay the interface for programs.

``app.http.operator_html`` renders it; ``register_operator_page`` is the adapter that gathers
the snapshot from the worker.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable
from typing import Any

import faust
import msgspec
from faust.web import Request, Response, View

from app.http.operator_html import Lookup, Snapshot, render

__all__ = ["register_operator_page"]


def register_operator_page(
    app: faust.App, gather: Callable[[], Snapshot], self_url: Callable[[], str]
) -> None:
    """Serve the page at ``/``, in front of Faust's ``{"status": "OK"}`` index.

    ``gather``: the worker's figures now; ``self_url``: this worker's base URL. A lookup asks
    this worker's own JSON views, which forward to the worker owning the user.
    """

    class OperatorPage(View):
        async def get(self, request: Request) -> Response:
            snapshot = gather()
            user = request.query.get("user", "").strip()
            if user:
                found = await _look_up(app, self_url(), user[:200])
                snapshot = dataclasses.replace(snapshot, lookup=found)
            # aiohttp refuses a charset inside content_type=: the header is set whole.
            page = render(snapshot).encode()
            return self.bytes(page, headers={"Content-Type": "text/html; charset=utf-8"})

    # Faust adds its own index ({"status": "OK"}) when the web server starts, after this;
    # aiohttp answers with the first route that matches: this one (the browser test checks).
    app.page("/")(OperatorPage)


async def _look_up(app: faust.App, base: str, user: str) -> Lookup:
    quoted = urllib.parse.quote(user, safe="")
    state = await _get_json(app, f"{base}/features/{quoted}/")
    latest = await _get_json(app, f"{base}/recommendations/{quoted}/")
    if state is None and latest is None:
        return Lookup(user, missing=f"no user {user!r}: no event of theirs has been processed")
    recent = [str(i) for i in (state or {}).get("recent", [])]
    recs = [(str(r.get("item_id")), float(r.get("score", 0.0))) for r in
            (latest or {}).get("items", [])]  # fmt: skip
    model = f"{(latest or {}).get('model', '')}/{(latest or {}).get('model_version', '')}"
    return Lookup(user, recent, recs, str((latest or {}).get("source", "")), model)


async def _get_json(app: faust.App, url: str) -> dict[str, Any] | None:
    try:
        async with app.http_client.get(url) as response:
            if response.status != 200:
                return None
            body = msgspec.json.decode(await response.read())
    except Exception:  # a lookup is best-effort: the page must render whatever happens
        return None
    return body if isinstance(body, dict) else None
