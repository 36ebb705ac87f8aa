"""What the operator page keeps between requests: rates sampled from the metrics, and the
served versions' item titles."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from prometheus_client import CollectorRegistry

from app.inference.manifest import read_titles
from app.inference.scorer import OnnxScorer

__all__ = ["P99", "WINDOW_S", "ItemTitles", "RecentRates"]

WINDOW_S = 10.0
"""Rates and the p99 cover the last this many seconds."""

_E2E = "streamrec_end_to_end_seconds"


class P99(NamedTuple):
    """The end-to-end p99 over the window, or the bound it is known to lie beyond."""

    seconds: float
    """Interpolated within its bucket; with ``beyond``, the top finite bucket's bound."""
    top_s: float
    """The top finite bucket's bound (the histogram measures nothing above it)."""
    above: float = 0.0
    """Updates in the window slower than ``top_s``."""
    beyond: bool = False
    """The p99 lies past ``top_s``: more than that, by how much unknown (showing the bound
    as the figure would look measured)."""


class RecentRates:
    """Counters sampled once a second: rates and the end-to-end p99 over the last WINDOW_S."""

    def __init__(
        self, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registry = registry
        self.clock = clock
        self._samples: deque[tuple[float, dict[str, float], list[tuple[float, float]]]] = deque()

    def sample(self) -> None:
        counters: dict[str, float] = {}
        buckets: list[tuple[float, float]] = []
        for family in self.registry.collect():
            for s in family.samples:
                if s.name == f"{_E2E}_bucket":
                    buckets.append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_total"):
                    counters[s.name] = counters.get(s.name, 0.0) + s.value
        now = self.clock()
        self._samples.append((now, counters, sorted(buckets)))
        while len(self._samples) > 2 and now - self._samples[1][0] >= WINDOW_S:
            self._samples.popleft()

    def rate(self, name: str) -> float | None:
        """Per second over the window (None until two samples exist)."""
        if len(self._samples) < 2:
            return None
        (t0, first, _), (t1, last, _) = self._samples[0], self._samples[-1]
        return (last.get(name, 0.0) - first.get(name, 0.0)) / (t1 - t0) if t1 > t0 else None

    def p99(self) -> P99 | None:
        """End-to-end p99 over the window, interpolated within its histogram bucket as
        Prometheus' histogram_quantile does (None without events in the window)."""
        if len(self._samples) < 2:
            return None
        first = dict(self._samples[0][2])
        window = [(le, n - first.get(le, 0.0)) for le, n in self._samples[-1][2]]
        return _quantile(0.99, window)


def _quantile(q: float, buckets: Sequence[tuple[float, float]]) -> P99 | None:
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank, total = q * buckets[-1][1], buckets[-1][1]
    finite = [(le, n) for le, n in buckets if le != float("inf")]
    top, within = finite[-1] if finite else (0.0, 0.0)
    lower, below = 0.0, 0.0
    for le, count in finite:
        if count >= rank:
            inside = count - below
            seconds = lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            return P99(seconds, top, total - within)
        lower, below = le, count
    return P99(top, top, total - within, beyond=True)


class ItemTitles:
    """Each served version's item titles (its optional ``titles_file``), read once."""

    def __init__(self) -> None:
        self._of: dict[Path, dict[str, str]] = {}

    def of(self, scorer: OnnxScorer | None) -> dict[str, str]:
        """The titles of ``scorer``'s version (none without a model)."""
        if scorer is None:
            return {}
        if scorer.path not in self._of:  # a version never changes: read it once
            self._of[scorer.path] = read_titles(scorer.path, scorer.manifest)
        return self._of[scorer.path]
