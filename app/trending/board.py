"""The trending board: every worker's published top items, merged into one list per window.

Each worker publishes, for each partition it counts, the top items per window (a
``TrendingReport`` on the trending topic, keyed by worker); every worker reads them all. A
partition moves between workers on a rebalance, so for each partition the newest report
claiming it is the one used, and a worker that left stops counting once another claims its
partitions.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from app.trending.windows import Counted, TrendingConfig, merge_tops

__all__ = ["TrendingBoard", "TrendingReport"]

logger = logging.getLogger(__name__)


class TrendingReport(msgspec.Struct, frozen=True):
    """One worker's partitions: partition -> window start -> top (item, count)."""

    worker: str
    ts: float
    """Wall-clock time of the report (the newest claim of a partition wins)."""
    partitions: dict[int, dict[float, list[Counted]]]


class TrendingBoard:
    """The latest report of every worker, and their merge."""

    def __init__(self, config: TrendingConfig, partitions: int) -> None:
        self.config = config
        self.partitions = partitions
        self._reports: dict[str, TrendingReport] = {}
        self._decode = msgspec.json.Decoder(TrendingReport).decode
        self._merged: dict[float, list[Counted]] | None = None
        self._covered = 0

    def take(self, value: bytes | None) -> None:
        """One record of the trending topic (a bad one is logged and skipped)."""
        if value is None:
            return
        try:
            report = self._decode(value)
        except msgspec.DecodeError as exc:
            logger.warning("trending topic: skipped a record that is not a report: %s", exc)
            return
        known = self._reports.get(report.worker)
        if known is None or report.ts >= known.ts:
            self._reports[report.worker] = report
            self._merged = None

    def windows(self) -> dict[float, list[Counted]]:
        """Window start -> the deployment's top items (merged once per new report)."""
        if self._merged is None:
            owner: dict[int, TrendingReport] = {}
            for report in self._reports.values():
                for partition in report.partitions:
                    claim = owner.get(partition)
                    if claim is None or report.ts > claim.ts:
                        owner[partition] = report
            merged = merge_tops([owner[p].partitions[p] for p in owner], self.config.top_n)
            # Partitions drop windows behind their own newest: behind the newest of all too.
            newest = max(merged, default=0.0)
            self._merged = {s: t for s, t in merged.items() if self.config.retained(s, newest)}
            self._covered = len(owner)
        return self._merged

    def current(self) -> float | None:
        """Start of the window holding the newest step's events, the longest such (None
        before anything was counted)."""
        windows = self.windows()
        return self.config.current(max(windows)) if windows else None

    def items(self, window: float | None = None, n: int | None = None) -> list[Counted]:
        """The top ``n`` of ``window`` (the current one by default); [] if not known."""
        windows = self.windows()
        start = self.current() if window is None else window
        top = windows.get(start, []) if start is not None else []
        return top[: self.config.top_n if n is None else n]

    def view(self, window: float | None, n: int) -> dict[str, Any] | None:
        """``GET /trending/``'s answer; None if ``window`` is not one of the kept windows."""
        windows = self.windows()
        start = self.current() if window is None else window
        if window is not None and window not in windows:
            return None
        size = self.config.window_s
        return {
            "window": None if start is None else {"start": start, "end": start + size},
            "items": [{"item_id": i, "count": c} for i, c in self.items(start, n)],
            "windows": sorted(windows, reverse=True),
            "window_s": size,
            "step_s": self.config.step_s,
            "partitions": {"reported": self._covered, "of": self.partitions},
        }
