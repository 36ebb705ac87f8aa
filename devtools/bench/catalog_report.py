"""The catalog scenario's section of BENCHMARKS.md: the drains, the indexes, the targets."""

from __future__ import annotations

from typing import Any

__all__ = ["TARGETS", "catalog_section", "target_lines"]

TARGETS = {1_000_000: (0.4, 0.95), 100_000: (0.7, 0.97)}
"""Issue #37's targets by catalog size: (events/s vs the reference size, recall@10)."""
PEAK_RSS_TARGET = {1_000_000: 3 * 2**30}


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _reference(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first size's drain; with the drain repeated last, its events/s is their mean."""
    if not rows:
        return None
    both = [rows[0]] + [r for r in rows[1:] if r.get("again")]
    return {**rows[0], "events_per_s": sum(r["events_per_s"] for r in both) / len(both),
            "drains": [r["events_per_s"] for r in both]}  # fmt: skip


def _row(r: dict[str, Any], ref: float) -> str:
    recall = r["recall_at_10"]
    ok = r["complete"] and r["seen_recommended"] == 0
    return (
        f"| {r['items']:,} | {r['mode']}{' (again, last)' if r.get('again') else ''} "
        f"| {r['events']:,} | {r['events_per_s']:,.0f} "
        f"| {r['events_per_s'] / ref:.2f}x | {r['cpu_s_per_1k']:.2f} "
        f"| {r.get('worker_cores', float('nan')):.2f} "
        f"| {_mib(r.get('peak_rss', 0))} | {r['ready_s']:.0f} s "
        f"| {recall['one taste']:.3f} | {recall['two tastes']:.3f} | {'yes' if ok else 'NO'} |"
    )


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each target of the issue against the retrieval run it is about: met or not."""
    ref = _reference(rows)
    if ref is None:
        return []
    out = []
    for size, (ratio_min, recall_min) in sorted(TARGETS.items()):
        run = next((r for r in rows if r["items"] == size and r["mode"] == "retrieval"), None)
        if run is None:
            continue
        ratio = run["events_per_s"] / ref["events_per_s"]
        one, two = run["recall_at_10"]["one taste"], run["recall_at_10"]["two tastes"]
        checks = [
            f"{ratio:.2f}x the events/s of {ref['items']:,} items (target >= {ratio_min}x: "
            f"{'met' if ratio >= ratio_min else 'NOT met'})",
            f"recall@10 {one:.3f} one taste / {two:.3f} two tastes (target >= {recall_min}: "
            f"{_met(one >= recall_min, two >= recall_min)})",
        ]
        if size in PEAK_RSS_TARGET:
            peak = run.get("peak_rss", 0)
            checks.append(f"peak RSS {_mib(peak)} (target <= {_mib(PEAK_RSS_TARGET[size])}: "
                          f"{'met' if peak <= PEAK_RSS_TARGET[size] else 'NOT met'})")  # fmt: skip
        out.append(f"- {size:,} items, retrieval: " + "; ".join(checks) + ".")
    return out


def _met(one: bool, two: bool) -> str:
    if one and two:
        return "met for both"
    if one:
        return "met for one-taste users, NOT for two-taste users"
    return "NOT met"


def catalog_section(catalog: dict[str, Any]) -> list[str]:
    """The Markdown lines of the catalog scenario."""
    rows, plan = catalog["runs"], catalog["plan"]
    ref = _reference(rows)
    if ref is None:
        return []
    lines = [
        "",
        "## Catalog size (synthetic two-tower versions; exhaustive vs the ANN index)",
        "",
        f"Clustered item vectors ({plan['dims']} dims, {plan['clusters']} clusters), the query "
        "the mean of the user's recent items' vectors. Each drain: a fresh broker pre-loaded "
        f"with {plan['per_user']} events per user, one worker. Half the users have one taste "
        "cluster, half two (their query lies between clusters: the hard case for an index). "
        "Exhaustive = the same version served with STREAMREC_RETRIEVAL_EXHAUSTIVE_BELOW above "
        "its size; the first size is served as by default (exhaustive, below the threshold). "
        f"Recall@10: the update answering the last event of each of "
        f"{catalog['sampled_users']} users per group against an exact numpy top 10 (seen "
        "items masked). Worker cores: its CPU seconds per wall second while it drained (on a "
        "shared machine, how much CPU it got).",
        "",
        "| items | served by | events | events/s | vs reference | CPU s / 1k events "
        "| worker cores | peak RSS | ready after | recall@10 one taste | recall@10 two tastes "
        "| complete, no seen item |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(_row(r, ref["events_per_s"]) for r in rows),
    ]
    if len(ref["drains"]) > 1:
        first, last = ref["drains"][0], ref["drains"][-1]
        lines += ["", f"The reference ({ref['items']:,} items) was drained first and last: "
                  f"{first:,.0f} and {last:,.0f} events/s; ratios are against their mean, and "
                  f"their spread ({abs(first - last) / ref['events_per_s']:.0%} of it) is how "
                  "much the machine's load moved during the run."]  # fmt: skip
    capped = [r for r in rows if r["mode"] == "exhaustive" and r["events"] < ref["events"]]
    if capped:
        sizes = ", ".join(f"{r['items']:,}" for r in capped)
        lines += ["", f"Exhaustive at {sizes} items drains "
                  f"fewer events ({capped[0]['events']:,}: the first users of each group, every "
                  "one of their events): it is too slow for the full load."]  # fmt: skip
    indexes = catalog.get("indexes") or {}
    if indexes:
        lines += [
            "",
            "Index prebuilt per version with `faust -A app index`'s code (all cores), at the "
            "default STREAMREC_RETRIEVAL_* settings (kind: STREAMREC_RETRIEVAL_INDEX):",
            "",
            "| items | build time | index file | its own recall@10 (500 item vectors as "
            "queries) |",
            "|---|---|---|---|",
            *(f"| {int(size):,} | {i['build_s']:,.1f} s | {_mib(i['size_bytes'])} "
              f"| {i['own_recall_at_10']:.3f} |" for size, i in indexes.items()),
        ]  # fmt: skip
    targets = target_lines(rows)
    if targets:
        lines += ["", "Issue #37's targets:", "", *targets]
    return lines
