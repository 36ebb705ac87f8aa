"""The inference API scenario's section of BENCHMARKS.md (issue #40)."""

from __future__ import annotations

from typing import Any

__all__ = ["inference_section"]

_LABELS = {"rest_json": "REST, JSON", "rest_binary": "REST, binary tensors", "grpc": "gRPC"}


def inference_section(found: dict[str, Any]) -> list[str]:
    """Requests/s and latency per transport and client count, and the batching gain."""
    if "rows" not in found:
        return ["", "## Inference API", "", f"Skipped: {found.get('skipped', 'not run')}."]
    plan = found["plan"]
    lines = [
        "",
        "## Inference API (Open Inference Protocol, one worker)",
        "",
        f"Each request a history of {len(plan['items']) + 2} items (two of them random: few "
        f"cache hits), top {plan['top_k']}, model {found['model']}; {plan['seconds']:g} s per "
        "row. REST load by wrk (at most 2 threads), gRPC load by at most 2 Python processes "
        "(raw tensors, as Triton's clients send them); the worker and the load share the "
        "machine's 2 cores, so the cores column says who was saturated.",
        "",
        "| transport | clients | requests/s | p50 ms | p99 ms | errors | cores: worker / load |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in found["rows"]:
        lines.append(
            f"| {_LABELS.get(r['transport'], r['transport'])} | {r['clients']} "
            f"| {r['requests_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['errors']:.0f} | {r['cores']['worker']:.2f} / {r['cores']['load']:.2f} |"
        )
    alone = found.get("unbatched")
    if alone:
        batched = next(
            (r for r in found["rows"]
             if r["transport"] == "rest_json" and r["clients"] == alone["clients"]),
            None,
        )  # fmt: skip
        if batched is not None and alone["requests_per_s"] > 0:
            gain = batched["requests_per_s"] / alone["requests_per_s"]
            lines += [
                "",
                f"Batching concurrent requests into one model call, REST JSON at "
                f"{alone['clients']} clients: {batched['requests_per_s']:,.0f} requests/s "
                f"(p99 {batched['p99_ms']:.1f} ms) against {alone['requests_per_s']:,.0f} "
                f"(p99 {alone['p99_ms']:.1f} ms) with each request scored alone "
                f"(STREAMREC_MAX_BATCH=1): {gain:.2f}x.",
            ]
    return lines
