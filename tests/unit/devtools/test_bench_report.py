"""The full bench report's sections that compare drains (pure: from a result dict)."""

from __future__ import annotations

from devtools.bench.report import _default_vs_light, _tail_ratio, _trace, _writes


def _drain(rate: float, cpu: float, written: dict[str, dict[str, int]] | None = None) -> dict:
    row = {"events": 1000, "events_per_s": rate, "cpu_s_per_1k": cpu}
    return row if written is None else {**row, "written": written}


def test_writes_per_input_event_are_per_topic_and_summed() -> None:
    written = {
        "abc.recommendations": {"records": 1000, "bytes": 300_000},
        "streamrec-abc-features-changelog": {"records": 400, "bytes": 80_000},
        "abc.dlq": {"records": 0, "bytes": 0},
    }
    result = {
        "pipeline": _drain(10_000, 0.1, written),
        "distinct_users": _drain(5_000, 0.2, written),
    }
    lines = _writes(result)
    assert "| MovieLens as recorded | recommendations | 1.00 | 300 |" in lines
    assert "| MovieLens as recorded | features-changelog | 0.40 | 80 |" in lines
    assert "| one user per event | **all** | **1.40** | **380** |" in lines
    assert not any("dlq" in line for line in lines)  # nothing written there: no row
    assert (
        lines[-1]
        == "One user per event drained 0.50x the MovieLens drain (issue #39's target >= 0.6x)."
    )


def test_the_default_model_is_compared_with_the_light_one_against_the_targets() -> None:
    result = {
        "pipeline": _drain(6_000, 0.16),
        "light": {**_drain(10_000, 0.1), "model": "itemsvd"},
        "served_model": "hybrid/3",
    }
    (line,) = [x for x in _default_vs_light(result) if x]
    assert "hybrid/3" in line and "0.60x its events/s" in line and "met" in line
    assert "1.60x its CPU per event (target <= 2x: met)" in line
    assert _default_vs_light({"pipeline": _drain(1, 1)}) == []


def _level(rate: float, p99: float, trace: list[dict] | None = None) -> dict:
    row = {"target_rate": rate, "p99_ms": p99}
    return row if trace is None else {**row, "trace": trace}


def _second(n: int, p99: float, gc2: int = 0) -> dict:
    return {
        "second": n, "outputs": 100, "p50_ms": p99 / 2, "p99_ms": p99, "batches": 10,
        "stage_ms_per_batch": {"queue": 5.0, "state": 1.0, "inference": 3.0, "produce": 4.0},
        "gc_collections": {"0": 3, "1": 0, "2": gc2}, "cores": {"pipeline": 0.5, "broker": 0.3},
    }  # fmt: skip


def test_the_tail_is_held_to_the_plain_loops_at_25_and_50_percent() -> None:
    result = {
        "pipeline": _drain(10_000, 0.1),
        "latency": [_level(2500, 30), _level(5000, 90), _level(8000, 900)],
        "reference_latency": [_level(2500, 20), _level(5000, 30), _level(8000, 100)],
    }
    (line,) = [x for x in _tail_ratio(result) if x]
    assert "25%: 1.50x, 50%: 3.00x" in line and "80%" not in line


def test_the_trace_at_50_percent_names_the_seconds_whose_p99_stood_out() -> None:
    trace = [_second(n, 20) for n in range(9)] + [_second(9, 300, gc2=1)]
    result = {
        "pipeline": _drain(10_000, 0.1),
        "latency": [_level(2500, 30, trace), _level(5000, 90, trace)],
    }
    lines = _trace(result)
    assert "10 seconds with outputs, the median second's p99 20 ms, the worst 300 ms" in lines[1]
    assert "1 seconds over twice the median" in lines[1]
    assert lines[-1] == (
        "| 9 | 100 | 150 / 300 | 10 | 5.0 / 1.0 / 3.0 / 4.0 | 3 / 0 / 1 | 0.50 / 0.30 |"
    )
    assert _trace({"pipeline": _drain(1, 1), "latency": [_level(1, 1)]}) == []
