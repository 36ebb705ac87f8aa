"""The operator page's HTML: ``render`` is pure (a ``Snapshot`` in, HTML out).

What one worker knows, for a person rather than a program (``app.http.operator_page`` gathers
it). No script and no external assets: it works offline and behind any proxy.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.http.operator_state import P99, WINDOW_S

__all__ = ["REFRESH_S", "Lookup", "Snapshot", "render"]

REFRESH_S = 5


@dataclass(frozen=True)
class Lookup:
    """One user's recent items and current recommendations (or why they are missing)."""

    user_id: str
    recent: list[str] = field(default_factory=list)
    recommendations: list[tuple[str, float]] = field(default_factory=list)
    source: str = ""
    model: str = ""
    missing: str = ""


@dataclass(frozen=True)
class Snapshot:
    """Everything the page shows."""

    worker: str
    app_id: str
    ready: Mapping[str, Any]
    live: Mapping[str, Any]
    partitions: Sequence[int]
    lag: Mapping[int, int]
    events_in_per_s: float | None
    updates_out_per_s: float | None
    p99: P99 | None
    dead_letters: Mapping[str, float]
    arms: Sequence[Mapping[str, Any]]
    trending: Sequence[tuple[str, int]] | None
    titles: Mapping[str, str]
    lookup: Lookup | None = None


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, fmt: str = "{:,.1f}", none: str = "-") -> str:
    return none if value is None else fmt.format(value)


def _item(item_id: str, titles: Mapping[str, str]) -> str:
    title = titles.get(item_id)
    return f"{_e(title)} <small>({_e(item_id)})</small>" if title else _e(item_id)


def _status(ok: bool, yes: str, no: str) -> str:
    return f'<span class="{"ok" if ok else "bad"}">{_e(yes if ok else no)}</span>'


def render(s: Snapshot) -> str:
    """The page's HTML."""
    ready, live = bool(s.ready.get("ready")), bool(s.live.get("alive"))
    checks = ", ".join(
        f"{_e(k)}: {_e(v)}" for k, v in s.ready.items() if k not in ("ready", "reason")
    )
    reason = s.ready.get("reason")
    why = f' <span class="bad" id="not-ready-reason">{_e(reason)}</span>' if reason else ""
    broker = bool(s.ready.get("broker_connected"))
    lag_total = sum(s.lag.values())
    by_partition = ", ".join(f"{p}: {n:,}" for p, n in sorted(s.lag.items())) or "-"
    dead = (
        "".join(
            f"<tr><td>{_e(reason)}</td><td>{n:,.0f}</td></tr>"
            for reason, n in sorted(s.dead_letters.items())
        )
        or '<tr><td colspan="2">none</td></tr>'
    )
    arms = "".join(_arm_row(arm) for arm in s.arms) or '<tr><td colspan="7">no model yet</td></tr>'
    parts = [
        f"<h1>streamrec <small>app {_e(s.app_id)} · worker {_e(s.worker)}</small></h1>",
        '<section><h2>This worker</h2><table class="kv">',
        f"<tr><th>ready</th><td>{_status(ready, 'ready', 'not ready')}{why} <small>{checks}"
        "</small></td></tr>",
        f'<tr><th>broker</th><td id="broker">{_status(broker, "connected", "unreachable")}'
        "</td></tr>",
        f"<tr><th>live</th><td>{_status(live, 'live', 'stuck')} <small>batch running "
        f"{_num(s.live.get('batch_running_s'), '{:.1f}')} s, lag without commit "
        f"{_num(s.live.get('lag_without_commit_s'), '{:.1f}')} s</small></td></tr>",
        f'<tr><th>partitions</th><td id="partitions">'
        f"{_e(', '.join(map(str, s.partitions)) or 'none')}</td></tr>",
        f"<tr><th>events in</th><td>{_num(s.events_in_per_s)} /s</td></tr>",
        f"<tr><th>updates out</th><td>{_num(s.updates_out_per_s)} /s</td></tr>",
        f"<tr><th>lag</th><td>{lag_total:,} <small>by partition: {_e(by_partition)}</small>"
        "</td></tr>",
        f'<tr><th>p99 end to end</th><td id="p99">{_p99(s.p99)}</td></tr>',
        "</table></section>",
        "<section><h2>Dead letters by reason</h2><table>"
        f"<tr><th>reason</th><th>records</th></tr>{dead}</table></section>",
        "<section><h2>Model arms</h2><table><tr><th>arm</th><th>version</th><th>serving</th>"
        "<th>traffic</th><th>updates</th><th>mean model call</th><th>prequential HR</th></tr>"
        f"{arms}</table></section>",
    ]
    if s.trending is not None:
        rows = (
            "".join(
                f"<tr><td>{n}</td><td>{_item(item, s.titles)}</td><td>{count:,}</td></tr>"
                for n, (item, count) in enumerate(s.trending, 1)
            )
            or '<tr><td colspan="3">nothing counted yet</td></tr>'
        )
        parts.append(
            "<section><h2>Trending now</h2><table><tr><th>#</th><th>item</th><th>events</th>"
            f"</tr>{rows}</table></section>"
        )
    parts.append(_lookup_section(s.lookup, s.titles))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No icon to fetch: a browser would ask for /favicon.ico and log the 404 as an error.
        '<link rel="icon" href="data:,">'
        f"<title>streamrec · {_e(s.worker)}</title><style>{_CSS}</style></head>"
        f"<body>{body}<footer>Refreshes every {REFRESH_S} s. For programs: "
        '<a href="/metrics">/metrics</a> · <a href="/models/">/models/</a> · '
        '<a href="/health/ready">/health/ready</a></footer></body></html>\n'
    )


def _p99(p99: P99 | None) -> str:
    """The p99 as measured, or "> 10 s" when it lies past the top bucket (the histogram
    cannot say by how much), and how many updates were slower than that bucket."""
    note = f"last {WINDOW_S:.0f} s"
    if p99 is None:
        return f"- ms <small>({note})</small>"
    figure = f"&gt; {p99.top_s:g} s" if p99.beyond else f"{1000 * p99.seconds:,.0f} ms"
    if p99.above:
        note += f"; {p99.above:,.0f} updates above {p99.top_s:g} s"
    return f"{figure} <small>({note})</small>"


def _arm_row(arm: Mapping[str, Any]) -> str:
    live = arm.get("live", {})
    hr = live.get("prequential_hr")
    return (
        f"<tr><td>{_e(arm.get('variant'))}</td><td>{_e(arm.get('version'))}</td>"
        f"<td>{_status(bool(arm.get('serving')), 'yes', 'no')}</td>"
        f"<td>{_num(arm.get('traffic_percent'), '{:.0f}')} %</td>"
        f"<td>{_num(live.get('updates'), '{:,.0f}')}</td>"
        f"<td>{_num(live.get('mean_model_call_ms'), '{:.2f}')} ms</td>"
        f"<td>{_num(hr, '{:.3f}')}</td></tr>"
    )


def _lookup_section(lookup: Lookup | None, titles: Mapping[str, str]) -> str:
    value = _e(lookup.user_id) if lookup else ""
    form = (
        '<form method="get" action="/"><label for="user">User id</label> '
        f'<input id="user" name="user" value="{value}" maxlength="200"> '
        '<button type="submit">Look up</button></form>'
    )
    if lookup is None:
        return f"<section><h2>User lookup</h2>{form}</section>"
    if lookup.missing:
        result = f'<p class="bad" id="lookup-missing">{_e(lookup.missing)}</p>'
    else:
        recs = "".join(
            f"<li>{_item(item, titles)} <small>score {score:.3f}</small></li>"
            for item, score in lookup.recommendations
        )
        recent = "".join(f"<li>{_item(item, titles)}</li>" for item in reversed(lookup.recent))
        result = (
            f"<h3>Recommendations <small>source {_e(lookup.source)}, model "
            f'{_e(lookup.model)}</small></h3><ol id="recommendations">{recs}</ol>'
            f'<h3>Recent items <small>newest first</small></h3><ol id="recent">{recent}</ol>'
        )
    return f"<section><h2>User lookup</h2>{form}{result}</section>"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}"
    "h1 small,h3 small,td small{color:#666;font-weight:normal}"
    "section{margin:1.2em 0}table{border-collapse:collapse}"
    "th,td{border-bottom:1px solid #ddd;padding:.25em .8em;text-align:left}"
    ".kv th{width:10em}.ok{color:#17692b;font-weight:bold}.bad{color:#a40e0e;font-weight:bold}"
    "footer{color:#666;font-size:.9em;margin-top:2em}"
)
