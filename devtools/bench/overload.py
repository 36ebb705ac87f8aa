"""The overload scenario: 150% of one worker's maximum, then 50%, with degradation off and on.

What a user feels past saturation is how long the stream stays late after the burst: here the
time from the end of the burst until the p99 end-to-end latency over a 1 s window (by output
time) is back under a bar (100 ms, and 1 s), next to the peak latency, the p99 over the run's
last 10 s and how many updates went out. Every user's newest event must be answered either
way (what degradation promises).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from app.training.movielens import Rating
from devtools.bench.load import make_events, send_events
from devtools.namespace import Namespace
from devtools.processes import WorkerProcess
from devtools.reader import Records, read_topics

__all__ = ["BARS_MS", "OverloadPlan", "p99_by_window", "recovery_s", "run_overload"]

BARS_MS = (100.0, 1000.0)
"""The p99 bars recovery is timed to."""
WINDOW_S = 1.0


@dataclass(frozen=True)
class OverloadPlan:
    """The load: ``high`` x the maximum for ``high_s``, then ``low`` x for ``low_s``."""

    max_rate: float
    high: float = 1.5
    high_s: float = 20.0
    low: float = 0.5
    low_s: float = 40.0


class _Output(msgspec.Struct):
    event_id: str
    event_ts: float


_decode = msgspec.json.Decoder(_Output).decode


def p99_by_window(outputs: Sequence[tuple[float, float]], burst_end: float) -> dict[int, float]:
    """1 s window (seconds from ``burst_end``, by output time) -> p99 latency (ms) of the
    (output time, latency ms) pairs in it."""
    windows: dict[int, list[float]] = {}
    for at, latency_ms in outputs:
        windows.setdefault(int((at - burst_end) // WINDOW_S), []).append(latency_ms)
    return {w: float(np.percentile(lat, 99)) for w, lat in sorted(windows.items())}


def recovery_s(p99_by_second: Mapping[int, float], bar_ms: float) -> float | None:
    """Seconds from the end of the burst until a 1 s window's p99 is under ``bar_ms`` (the
    end of the first such window: ``p99_by_window``'s); None if none in the run is."""
    for second, p99 in sorted(p99_by_second.items()):
        if second >= 0 and p99 < bar_ms:
            return (second + 1) * WINDOW_S
    return None


async def run_overload(
    ns: Namespace,
    worker_env: dict[str, str],
    ratings: Sequence[Rating],
    plan: OverloadPlan,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """One fresh worker (``worker_env`` on top of the namespace's settings) through the plan;
    what it emitted and when it recovered."""
    n_high = int(plan.max_rate * plan.high * plan.high_s)
    n_low = int(plan.max_rate * plan.low * plan.low_s)
    events = make_events(ratings, n_high + n_low, tag="o")
    newest = {key: event_id for key, _, event_id in events}
    worker = WorkerProcess({**ns.worker_env(0), **worker_env}, log=ns.root / f"{ns.name}.log")
    worker.start()
    try:
        await asyncio.to_thread(worker.wait_ready, 120)
        # Warm-up, not measured: a fresh worker's first seconds land in any tail.
        warm = make_events(ratings, int(plan.max_rate * plan.low * 3), tag="w")
        await send_events(ns.brokers, ns.input_topic, warm, rate=plan.max_rate * plan.low)
        high = await send_events(ns.brokers, ns.input_topic, events[:n_high],
                                 rate=plan.max_rate * plan.high)  # fmt: skip
        burst_end = time.time()
        low = await send_events(ns.brokers, ns.input_topic, events[n_high:],
                                rate=plan.max_rate * plan.low)  # fmt: skip
        pending, seen = set(newest.values()), [0]

        def answered(got: Records) -> bool:
            for record in got[seen[0] :]:
                pending.discard(_decode(record.value or b"").event_id)
            seen[0] = len(got)
            return not pending

        records = await read_topics(ns.brokers, [ns.output_topic], answered, within_s=600,
                                    check_every_s=1.0)  # fmt: skip
    finally:
        await asyncio.to_thread(worker.stop)
    outputs = []
    for record in records:
        out = _decode(record.value or b"")
        if out.event_id.startswith("o-"):
            outputs.append((record.timestamp / 1000, record.timestamp - 1000 * out.event_ts))
    latencies = [lat for _, lat in outputs]
    by_second = p99_by_window(outputs, burst_end)
    last = max((at for at, _ in outputs), default=0.0)
    tail = [lat for at, lat in outputs if at >= last - 10]
    result = {
        "degrade_lag_s": float(worker_env.get("STREAMREC_DEGRADE_LAG_S", 0)),
        "events": len(events), "updates": len(outputs), "high_rate": high, "low_rate": low,
        "peak_ms": max(latencies, default=float("nan")),
        "p99_ms_by_second": by_second,
        "last_10s_p99_ms": float(np.percentile(tail, 99)) if tail else float("nan"),
        "newest_unanswered": len(pending),
        "low_s": plan.low_s,
    }  # fmt: skip
    back = ", ".join(
        f"under {bar:,.0f} ms " + ("not within the run" if (r := recovery_s(by_second, bar)) is None
                                   else f"after {r:.0f} s")
        for bar in BARS_MS
    )  # fmt: skip
    say(f"  DEGRADE_LAG_S={result['degrade_lag_s']:g}: {len(outputs):,} updates for "
        f"{len(events):,} events, peak {result['peak_ms']:,.0f} ms, p99 {back}, "
        f"{len(pending)} newest events unanswered")  # fmt: skip
    return result
