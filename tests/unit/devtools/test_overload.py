"""The overload scenario's reading of a run: per-second p99s and when they are back under a bar."""

from __future__ import annotations

from devtools.bench.overload import p99_by_window, recovery_s
from devtools.bench.report import _overload


def test_each_second_after_the_burst_gets_its_own_p99() -> None:
    outputs = [(999.5, 900.0), (1000.2, 10.0)] + [(1001.5, 20.0)] * 98 + [(1001.6, 400.0)] * 2
    assert p99_by_window(outputs, burst_end=1000.0) == {-1: 900.0, 0: 10.0, 1: 400.0}


def test_recovery_is_the_end_of_the_first_second_under_the_bar_after_the_burst() -> None:
    p99s = {-2: 50.0, -1: 900.0, 0: 5_000.0, 1: 1_200.0, 2: 400.0, 3: 80.0, 4: 300.0}
    assert recovery_s(p99s, 100.0) == 4.0  # second 3; a slower one later does not undo it
    assert recovery_s(p99s, 1_000.0) == 3.0
    assert recovery_s(p99s, 10.0) is None  # second -2 was before the burst ended


def test_the_report_has_a_row_per_run_with_both_bars() -> None:
    row = {"degrade_lag_s": 0.0, "events": 10, "updates": 10, "high_rate": 15.0,
           "low_rate": 5.0, "peak_ms": 3000.0, "p99_ms_by_second": {"0": 2000.0, "1": 90.0},
           "last_10s_p99_ms": 95.0, "newest_unanswered": 0}  # fmt: skip
    degraded = {**row, "degrade_lag_s": 0.5, "p99_ms_by_second": {"0": 500.0, "1": 300.0}}
    lines = _overload({"overload": [row, degraded]})
    assert any(line.startswith("| 0 (off) ") and "| 2 s | 2 s | 95 ms |" in line for line in lines)
    assert any(line.startswith("| 0.5 ") and "| not within the run | 1 s |" in line
               for line in lines)  # fmt: skip
