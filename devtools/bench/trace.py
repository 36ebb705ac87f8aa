"""A per-second trace of a latency level: what each second's tail went with (issue #39).

While a level's load runs, a sampler reads once a second the CPU seconds of the worker and of
the broker and, from the worker's ``/metrics``, its batch stage sums and Python's garbage
collections. Afterwards each second gets the p50 / p99 end-to-end latency of the outputs
produced in it, next to the batch stage times, the collections and the cores of that second:
a second whose p99 stands out shows what ran in it (queueing behind a slow batch, the state
stage: RocksDB; produce: the broker; a gen-2 collection; the broker's CPU).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from devtools.bench.procstat import cpu_seconds
from devtools.net import scrape_metrics

__all__ = ["TRACED_LEVELS", "Sample", "SecondSampler", "per_second", "stage_sums", "stalls"]

TRACED_LEVELS = 2
"""The latency levels traced second by second and held to the plain loop's p99: the first
two (25% and 50% of the drain rate)."""


@dataclass(frozen=True)
class Sample:
    """Cumulative counters at one moment (``at``: unix seconds)."""

    at: float
    cpu: dict[str, float]
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Stage -> (sum of seconds, batches)."""
    gc: dict[str, float] = field(default_factory=dict)
    """Generation -> collections so far."""


def stage_sums(samples: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """(sum of seconds, batches) per stage, from a worker's ``/metrics`` samples."""
    out: dict[str, list[float]] = {}
    for name, value in samples.items():
        if name.startswith(("streamrec_stage_seconds_sum", "streamrec_stage_seconds_count")):
            stage = name.split('stage="', 1)[1].split('"', 1)[0]
            out.setdefault(stage, [0.0, 0.0])[0 if "_sum" in name else 1] = value
    return {k: (v[0], v[1]) for k, v in out.items()}


def _worker_counters(url: str) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    samples = scrape_metrics(url)
    gc = {
        name.split('generation="', 1)[1].split('"', 1)[0]: value
        for name, value in samples.items()
        if name.startswith("python_gc_collections_total")
    }
    return stage_sums(samples), gc


class SecondSampler:
    """Samples ``pids`` (name -> processes) and the worker at ``url`` (None: no worker, the
    plain loop) once a second until stopped."""

    def __init__(self, pids: Mapping[str, Sequence[int]], url: str | None) -> None:
        self.pids = pids
        self.url = url
        self.samples: list[Sample] = []
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> Sample:
        cpu = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}
        stages, gc = _worker_counters(self.url) if self.url else ({}, {})
        return Sample(time.time(), cpu, stages, gc)

    async def _run(self) -> None:
        start = time.monotonic()
        tick = 0
        while True:
            self.samples.append(await asyncio.to_thread(self._sample))
            tick += 1
            await asyncio.sleep(max(0.0, start + tick - time.monotonic()))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> list[Sample]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.samples


def per_second(
    samples: Sequence[Sample], outputs: Sequence[tuple[float, float]]
) -> list[dict[str, Any]]:
    """One row per sampled second: the outputs produced in it (``outputs``: (output unix
    time, latency ms)), their p50 / p99, and the sampled counters' change over the second."""
    rows = []
    produced = np.array([t for t, _ in outputs], dtype=np.float64)
    latency = np.array([ms for _, ms in outputs], dtype=np.float64)
    for second, (a, b) in enumerate(itertools.pairwise(samples)):
        span = max(b.at - a.at, 1e-9)
        inside = latency[(produced >= a.at) & (produced < b.at)]
        row: dict[str, Any] = {"second": second, "outputs": int(inside.size)}
        if inside.size:
            p50, p99 = np.percentile(inside, [50, 99])
            row.update(p50_ms=float(p50), p99_ms=float(p99))
        row["cores"] = {k: (b.cpu[k] - a.cpu[k]) / span for k in b.cpu}
        batches = b.stages.get("state", (0.0, 0.0))[1] - a.stages.get("state", (0.0, 0.0))[1]
        row["batches"] = int(batches)
        row["stage_ms_per_batch"] = {
            stage: 1000
            * (total - a.stages.get(stage, (0.0, 0.0))[0])
            / max(n - a.stages.get(stage, (0.0, 0.0))[1], 1)
            for stage, (total, n) in b.stages.items()
        }
        row["gc_collections"] = {g: int(n - a.gc.get(g, 0.0)) for g, n in b.gc.items()}
        rows.append(row)
    return rows


def stalls(rows: Sequence[dict[str, Any]], factor: float = 2.0) -> list[dict[str, Any]]:
    """The seconds whose p99 is over ``factor`` times the median second's p99, worst first."""
    p99s = [r["p99_ms"] for r in rows if "p99_ms" in r]
    if not p99s:
        return []
    bar = factor * float(np.median(p99s))
    return sorted((r for r in rows if r.get("p99_ms", 0.0) > bar), key=lambda r: -r["p99_ms"])
