"""The per-second trace: each second's outputs and what the counters did meanwhile."""

from __future__ import annotations

from devtools.bench.trace import Sample, per_second, stalls


def test_each_second_gets_its_outputs_percentiles_and_counter_changes() -> None:
    samples = [
        Sample(100.0, {"pipeline": 1.0}, {"state": (0.0, 0.0)}, {"2": 4}),
        Sample(101.0, {"pipeline": 1.5}, {"state": (0.02, 10.0)}, {"2": 4}),
        Sample(102.0, {"pipeline": 2.5}, {"state": (0.05, 15.0)}, {"2": 5}),
    ]
    outputs = [(100.2, 10.0), (100.7, 30.0), (101.5, 400.0), (102.5, 1.0)]
    first, second = per_second(samples, outputs)
    assert first["outputs"] == 2 and first["p50_ms"] == 20.0
    assert first["cores"] == {"pipeline": 0.5} and first["batches"] == 10
    assert first["stage_ms_per_batch"] == {"state": 2.0}
    assert second["outputs"] == 1 and second["p99_ms"] == 400.0
    assert second["gc_collections"] == {"2": 1}
    assert round(second["stage_ms_per_batch"]["state"], 9) == 6.0


def test_a_stall_is_a_second_over_twice_the_median_seconds_p99() -> None:
    rows = [{"second": n, "p99_ms": p} for n, p in enumerate([10, 12, 11, 50, 30, 9])]
    assert [r["second"] for r in stalls(rows)] == [3, 4]
    assert stalls([{"second": 0, "outputs": 0}]) == []
