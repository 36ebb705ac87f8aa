"""The operator page: the rates and p99 it shows, the HTML, and the handler."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from app.http.context import HttpContext
from app.http.operator_html import Lookup, Snapshot, render
from app.http.operator_page import gather, operator_page
from app.http.operator_state import P99, RecentRates


def snapshot(**changes: object) -> Snapshot:
    base = {
        "worker": "http://w1:6066", "app_id": "streamrec",
        "ready": {"ready": True, "model_loaded": True}, "live": {"alive": True},
        "partitions": [0, 3], "lag": {0: 5, 3: 0}, "events_in_per_s": 812.5,
        "updates_out_per_s": 800.0, "p99": P99(0.0421, 10.0),
        "dead_letters": {"malformed_json": 3.0},
        "arms": [{"variant": "main", "version": "1", "serving": True, "traffic_percent": 100.0,
                  "live": {"updates": 1200, "mean_model_call_ms": 1.5,
                           "prequential_hr": 0.21}}],
        "trending": [("50", 17)], "titles": {"50": "Star Wars (1977)", "174": "Raiders <1981>"},
    }  # fmt: skip
    base.update(changes)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_rates_and_p99_cover_the_recent_window() -> None:
    registry = CollectorRegistry()
    events = Counter("streamrec_events_in", "", registry=registry)
    latency = Histogram("streamrec_end_to_end_seconds", "", buckets=(0.01, 0.1, 1.0),
                        registry=registry)  # fmt: skip
    now = [0.0]
    rates = RecentRates(registry, clock=lambda: now[0])
    for _ in range(100):  # old, fast events: out of the window by the end
        latency.observe(0.005)
    rates.sample()
    assert rates.rate("streamrec_events_in_total") is None and rates.p99() is None
    for second in range(1, 21):
        now[0] = float(second)
        events.inc(50)
        for _ in range(9):
            latency.observe(0.05)
        latency.observe(0.5)
        rates.sample()
    assert rates.rate("streamrec_events_in_total") == 50.0
    # Last 10 s: 90 events in (0.01, 0.1], 10 in (0.1, 1]; rank 99 lies 9/10 into the last.
    p99 = rates.p99()
    assert p99 is not None and abs(p99.seconds - (0.1 + 0.9 * 0.9)) < 1e-9
    assert (p99.top_s, p99.above, p99.beyond) == (1.0, 0.0, False)


def test_a_p99_past_the_top_bucket_is_shown_as_a_bound_with_the_count_above() -> None:
    """A rebalance: most updates slower than the top bucket. The page used to show the
    bound (10,000 ms) as if measured."""
    registry = CollectorRegistry()
    latency = Histogram("streamrec_end_to_end_seconds", "", buckets=(0.1, 1.0, 10.0),
                        registry=registry)  # fmt: skip
    now = [0.0]
    rates = RecentRates(registry, clock=lambda: now[0])
    rates.sample()
    for _ in range(63):
        latency.observe(0.05)
    for _ in range(437):
        latency.observe(42.0)
    now[0] = 5.0
    rates.sample()
    p99 = rates.p99()
    assert p99 == P99(10.0, 10.0, 437.0, beyond=True)
    page = render(snapshot(p99=p99))
    assert '<td id="p99">&gt; 10 s <small>(last 10 s; 437 updates above 10 s)</small>' in page
    assert "10,000 ms" not in page
    # Below the top bucket, with a few above it: the figure, and the few said.
    few = render(snapshot(p99=P99(0.25, 10.0, 3.0)))
    assert '<td id="p99">250 ms <small>(last 10 s; 3 updates above 10 s)</small>' in few


def test_the_page_shows_the_figures_and_escapes_what_it_did_not_write() -> None:
    page = render(snapshot(lookup=Lookup("<u>", ["50"], [("174", 2.5)], "model", "itemsvd/1")))
    assert 'content="5"' in page  # refreshes itself
    assert ">0, 3</td>" in page and "812.5 /s" in page and "42 ms" in page
    assert "malformed_json" in page and "0.210" in page and "Star Wars (1977)" in page
    assert "Raiders &lt;1981&gt; <small>(174)</small>" in page and "&lt;u&gt;" in page
    assert "<u>" not in page
    # Nothing to fetch from elsewhere, and no script at all.
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)


def test_an_unknown_user_and_an_idle_worker_render_without_figures() -> None:
    missing = Lookup("7", missing="no user '7'")
    idle = snapshot(events_in_per_s=None, updates_out_per_s=None, p99=None, arms=[],
                    trending=None, dead_letters={}, lookup=missing)  # fmt: skip
    page = render(idle)
    assert "- /s" in page and "no model yet" in page and "Trending" not in page
    assert 'id="lookup-missing">no user &#x27;7&#x27;' in page


def test_an_unreachable_broker_shows_as_not_ready_with_the_reason() -> None:
    ready = {"ready": True, "broker_connected": True, "model_loaded": True, "reason": None}
    page = render(snapshot(ready=ready))
    assert 'id="broker"><span class="ok">connected' in page
    assert "not-ready-reason" not in page and "None" not in page
    down = {**ready, "ready": False, "broker_connected": False,
            "reason": "broker unreachable for 12 s"}  # fmt: skip
    page = render(snapshot(ready=down))
    assert '<span class="bad">not ready</span> <span class="bad" id="not-ready-reason">' \
           "broker unreachable for 12 s</span>" in page  # fmt: skip
    assert 'id="broker"><span class="bad">unreachable' in page


async def test_the_handler_renders_what_the_worker_knows(
    context_factory: Callable[..., HttpContext], request_factory: Callable[..., web.Request]
) -> None:
    ctx = context_factory()
    await ctx.model.load()
    snapshot = gather(ctx)
    assert (snapshot.worker, snapshot.partitions, snapshot.trending) == ("http://w1:6066",
                                                                          [0, 1], [])  # fmt: skip
    assert [arm["version"] for arm in snapshot.arms] == ["1"]
    response = await operator_page(ctx, request_factory("GET", "/"))
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert isinstance(response.body, bytes) and b"app streamrec" in response.body
