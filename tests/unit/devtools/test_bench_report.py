"""The full bench report's sections that compare drains (pure: from a result dict)."""

from __future__ import annotations

from devtools.bench.report import _default_vs_light, _writes


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
