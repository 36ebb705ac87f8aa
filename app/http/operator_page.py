"""``GET /``: the operator page, plain HTML rendered by the worker, refreshing itself.

What one worker knows, for a person rather than a program: its partitions, readiness and
liveness, events in and updates out per second, lag, end-to-end p99, dead letters by reason,
the model arms with their live figures, the trending list, and a user lookup (``?user=ID``)
showing the user's recent items and current recommendations with titles (from the served
version's optional ``titles_file``). The JSON views stay the interface for programs.

``gather`` reads the snapshot from the worker; ``app.http.operator_html`` renders it.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

import faust
import msgspec
from aiohttp import web

from app.http.context import HttpContext
from app.http.health import liveness, readiness
from app.http.operator_html import Lookup, Snapshot, render

__all__ = ["gather", "operator_page"]


async def operator_page(ctx: HttpContext, request: web.Request) -> web.Response:
    """The page, with the looked-up user's items when ``?user=`` names one. A lookup asks
    this worker's own JSON views, which forward to the worker owning the user."""
    snapshot = gather(ctx)
    user = request.query.get("user", "").strip()
    if user:
        base = str(ctx.app.conf.canonical_url).rstrip("/")
        found = await _look_up(ctx.app, base, user[:200])
        snapshot = dataclasses.replace(snapshot, lookup=found)
    # aiohttp refuses a charset inside content_type=: the header is set whole.
    page = render(snapshot).encode()
    return web.Response(body=page, headers={"Content-Type": "text/html; charset=utf-8"})


def gather(ctx: HttpContext) -> Snapshot:
    """The worker's figures now."""
    dead = {s.labels["reason"]: s.value for m in ctx.metrics.dead_letters.collect()
            for s in m.samples if s.name.endswith("_total")}  # fmt: skip
    model = ctx.model
    report = (ctx.models_report()
              if model.current is not None else {"arms": []})  # fmt: skip
    return Snapshot(
        worker=str(ctx.app.conf.canonical_url),
        app_id=ctx.app_id,
        ready=readiness(ctx),
        live=liveness(ctx),
        partitions=ctx.progress.owned(),
        lag=dict(ctx.progress.lag),
        events_in_per_s=ctx.rates.rate("streamrec_events_in_total"),
        updates_out_per_s=ctx.rates.rate("streamrec_recommendations_out_total"),
        p99=ctx.rates.p99(),
        dead_letters=dead,
        arms=report["arms"],
        trending=ctx.board.items(n=10) if ctx.trending else None,
        titles=ctx.titles.of(model.current),
    )


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
