"""The overload scenario's reading of a run: when the p99 of 1 s windows is back under 100 ms."""

from __future__ import annotations

from pathlib import Path

from app.devtools.bench.overload import recovery_s
from app.devtools.bench.report import _overload


def outputs(*windows: tuple[float, list[float]]) -> list[tuple[float, float]]:
    """(output time, latency ms) for each window's latencies, at 1000 + the window's second."""
    return [(1000.0 + second + 0.5, lat) for second, lats in windows for lat in lats]


def test_recovery_is_the_end_of_the_last_slow_window_after_the_burst() -> None:
    run = outputs((-1, [900.0]), (0, [5_000.0]), (1, [20.0] * 98 + [400.0] * 2), (2, [30.0]),
                  (3, [20.0]))  # fmt: skip
    # Window 1's p99 is over 100 ms (two in a hundred at 400 ms); from window 2 on all are fast.
    assert recovery_s(run, burst_end=1000.0) == 2.0


def test_no_slow_window_after_the_burst_is_recovery_at_once() -> None:
    assert recovery_s(outputs((-2, [900.0]), (0, [10.0]), (1, [10.0])), 1000.0) == 0.0


def test_still_slow_at_the_end_of_the_run_is_no_recovery() -> None:
    assert recovery_s(outputs((0, [10.0]), (1, [500.0])), 1000.0) is None
    assert recovery_s([], 1000.0) is None


def test_the_report_compares_the_two_runs(tmp_path: Path) -> None:
    row = {"degrade_lag_s": 0.0, "events": 10, "updates": 10, "high_rate": 15.0,
           "low_rate": 5.0, "peak_ms": 3000.0, "recovery_s": 12.0, "newest_unanswered": 0,
           "low_s": 40.0}  # fmt: skip
    lines = _overload({"overload": [row, {**row, "degrade_lag_s": 0.5, "recovery_s": 4.0}]})
    assert "Degradation on recovered 3.0x faster." in lines
    assert any(line.startswith("| 0.5 ") and "| 4 s |" in line for line in lines)
