"""The catalog scenario's pure parts: its plan, users and events, recall@10 and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from devtools.bench.catalog_plan import (
    CatalogPlan,
    CatalogRun,
    catalog_events,
    exact_top10,
    histories,
    recall_at_10,
    served_top,
)
from devtools.bench.catalog_report import catalog_section, target_lines
from devtools.bench.report import write_report
from devtools.catalog import clustered_catalog
from tests.support.two_tower import exact_top


def test_the_plan_is_the_reference_then_both_modes_per_size_and_caps_slow_exhaustive() -> None:
    plan = CatalogPlan(sizes=(2_000, 100_000, 1_000_000), users=2_000, per_user=5,
                       exhaustive_max_events=4_000)  # fmt: skip
    assert plan.runs() == [
        CatalogRun(2_000, "exhaustive", 2_000),
        CatalogRun(100_000, "exhaustive", 2_000),
        CatalogRun(100_000, "retrieval", 2_000),
        CatalogRun(1_000_000, "exhaustive", 400),  # 400 users x 2 groups x 5 events = 4,000
        CatalogRun(1_000_000, "retrieval", 2_000),
        CatalogRun(2_000, "exhaustive", 2_000, again=True),  # brackets the run
    ]
    assert CatalogPlan(sizes=(2_000,)).runs() == [CatalogRun(2_000, "exhaustive", 2_000)]
    once = CatalogPlan(sizes=(2_000, 10_000), repeat_reference=False).runs()
    assert [r.again for r in once] == [False, False, False]
    assert CatalogPlan(users=100, recall_users=250).sampled_users == 100


def test_users_come_in_two_taste_groups_and_their_events_interleave_by_round() -> None:
    catalog = clustered_catalog(3_000, 8, 30, seed=0)
    plan = CatalogPlan(users=20, per_user=4)
    users = histories(catalog, plan)
    assert len(users) == 40 and {u[0] for u in users} == {"a", "b"}
    cluster = {item: c for item, c in zip(catalog.items, catalog.clusters.tolist(), strict=True)}
    for user, items in users.items():
        assert len(set(items)) == 4, "distinct items"
        assert len({cluster[i] for i in items}) <= (1 if user[0] == "a" else 2)
    assert any(len({cluster[i] for i in items}) == 2 for u, items in users.items() if u[0] == "b")

    events = catalog_events({"a0": ["x", "y"], "b0": ["z"]})
    assert [e[2] for e in events] == ["a0-0", "b0-0", "a0-1"]
    key, value, _ = events[2]
    assert key == b"a0"
    assert msgspec.json.decode(value) == {"user_id": "a0", "item_id": "y", "event": "view",
                                          "event_id": "a0-1"}  # fmt: skip


def _update(event_id: str, items: list[str]) -> bytes:
    return msgspec.json.encode(
        {"event_id": event_id, "items": [{"item_id": i, "score": 1.0} for i in items]}
    )


def test_served_top_is_the_update_answering_each_users_last_event() -> None:
    users = {"a0": ["x", "y"], "a1": ["z"]}
    updates = [_update("a0-1", ["p"]), _update("a0-0", ["q"]), _update("a1-0", ["r"])]
    assert served_top(updates, users) == {"a0": ["p"], "a1": ["r"]}


def test_exact_top10_is_the_brute_force_answer_with_seen_items_masked() -> None:
    catalog = clustered_catalog(2_000, 8, 20, seed=3)
    users = histories(catalog, CatalogPlan(users=40, per_user=6))
    exact = exact_top10(catalog, users)  # 80 users: more than one chunk
    assert len(exact) == 80
    for user, items in users.items():
        assert exact[user] == exact_top(catalog, items)
        assert not set(exact[user]) & set(items)


def test_recall_counts_each_users_share_of_the_exact_top10_and_unanswered_as_zero() -> None:
    want = {"a": [f"i{n}" for n in range(10)], "b": [f"i{n}" for n in range(10, 20)]}
    served = {"a": [f"i{n}" for n in range(5, 15)]}  # 5 of a's; b unanswered
    assert recall_at_10(served, want) == pytest.approx(0.25)
    assert np.isnan(recall_at_10(served, {}))


def _row(
    items: int, mode: str, rate: float, one: float, two: float, **extra: Any
) -> dict[str, Any]:
    return {"items": items, "mode": mode, "users": 4_000, "events": 20_000, "outputs": 20_000,
            "events_per_s": rate, "cpu_s_per_1k": 0.25, "worker_cores": 0.9,
            "peak_rss": 512 * 2**20, "ready_s": 9.0, "complete": True, "answered": 4_000,
            "seen_recommended": 0,
            "recall_at_10": {"one taste": one, "two tastes": two}, **extra}  # fmt: skip


def _catalog() -> dict[str, Any]:
    rows = [
        _row(2_000, "exhaustive", 4_000.0, 1.0, 1.0),
        _row(100_000, "retrieval", 3_000.0, 0.99, 0.96),
        _row(1_000_000, "exhaustive", 100.0, 1.0, 1.0, events=4_000, peak_rss=5 * 2**30),
        _row(1_000_000, "retrieval", 1_000.0, 0.96, 0.80, peak_rss=2 * 2**30),
        _row(2_000, "exhaustive", 4_000.0, 1.0, 1.0, again=True),
    ]
    plan = {"dims": 64, "clusters": 500, "per_user": 5}
    indexes = {"100000": {"build_s": 12.5, "size_bytes": 40 * 2**20, "own_recall_at_10": 0.97}}
    return {"plan": plan, "sampled_users": 250, "indexes": indexes, "runs": rows}


def test_the_targets_say_met_or_not_for_each_figure() -> None:
    rows = _catalog()["runs"]
    rows[0]["events_per_s"], rows[-1]["events_per_s"] = 3_000.0, 5_000.0  # their mean: 4,000
    lines = target_lines(rows)
    assert lines[0].startswith("- 100,000 items, retrieval: 0.75x the events/s of 2,000 items")
    assert "(target >= 0.7x: met)" in lines[0]
    assert "recall@10 0.990 one taste / 0.960 two tastes" in lines[0]
    assert "(target >= 0.97: met for one-taste users, NOT for two-taste users)" in lines[0]
    assert "(target >= 0.4x: NOT met)" in lines[1]  # 0.25x
    assert "peak RSS 2,048 MiB (target <= 3,072 MiB: met)" in lines[1]


def test_the_section_has_a_row_per_run_the_cap_the_indexes_and_the_targets() -> None:
    text = "\n".join(catalog_section(_catalog()))
    assert ("| 100,000 | retrieval | 20,000 | 3,000 | 0.75x | 0.25 | 0.90 | 512 MiB | 9 s "
            "| 0.990 | 0.960 | yes |") in text  # fmt: skip
    assert "Exhaustive at 1,000,000 items drains fewer events (4,000" in text
    assert "| 2,000 | exhaustive (again, last) | 20,000 | 4,000 | 1.00x |" in text
    assert "drained first and last: 4,000 and 4,000 events/s" in text
    assert "| 100,000 | 12.5 s | 40 MiB | 0.970 |" in text
    assert "Issue #37's targets:" in text


def test_a_catalog_only_run_writes_its_own_files(tmp_path: Path) -> None:
    versions = {"faust-streaming": "1", "aiokafka": "1", "onnxruntime": "1", "broker": "b"}
    machine = {"cpu": "cpu", "cores": 2, "memory_gib": 8, "python": "3", "date": "d", **versions}
    text = write_report({"catalog": _catalog(), "machine": machine}, tmp_path, "BENCHMARKS-catalog")
    assert (tmp_path / "BENCHMARKS-catalog.md").read_text() == text
    assert "# Benchmarks: catalog size" in text and "## Catalog size" in text
    assert msgspec.json.decode((tmp_path / "BENCHMARKS-catalog.json").read_bytes())["catalog"]
    assert not (tmp_path / "BENCHMARKS.md").exists()
