"""The bench's catalog scenario end to end at a tiny size: real brokers, real workers, an
index prebuilt by the index command's code, every figure of the report filled in."""

from __future__ import annotations

from pathlib import Path

from devtools.bench.catalog import run_catalog
from devtools.bench.catalog_plan import CatalogPlan
from devtools.bench.catalog_report import catalog_section
from devtools.bench.runner import _fresh_broker


async def test_the_catalog_scenario_drains_both_modes_and_measures_recall(tmp_path: Path) -> None:
    plan = CatalogPlan(
        sizes=(1_000, 3_000), users=30, per_user=3, recall_users=20, repeat_reference=False
    )
    said: list[str] = []
    result = await run_catalog(tmp_path, plan, _fresh_broker, said.append)

    runs = [(r["items"], r["mode"]) for r in result["runs"]]
    assert runs == [(1_000, "exhaustive"), (3_000, "exhaustive"), (3_000, "retrieval")]
    for row in result["runs"]:
        assert row["complete"] and row["outputs"] == row["events"] == 180
        assert row["answered"] == 60 and row["seen_recommended"] == 0
        # 180 events may be drained in one batch, within the poll for ready: no span to rate
        # (nan) and no CPU after ready; at the bench's sizes a drain takes seconds.
        assert not row["events_per_s"] <= 0 and row["cpu_s_per_1k"] >= 0 and row["peak_rss"] > 0
        # Exhaustive is exact. Retrieval's floor only says recall is measured: 3,000 items in
        # 500 clusters is no catalog for an index (IVF's 55 lists at 6 probes scan a tenth of
        # it: 0.8 here); its recall at real sizes is the bench's and test_two_tower's.
        floor = 1.0 if row["mode"] == "exhaustive" else 0.5
        assert min(row["recall_at_10"].values()) >= floor, row
    index = result["indexes"]["3000"]
    assert index["build_s"] > 0 and index["size_bytes"] > 0
    assert not list((tmp_path / "catalog-models").iterdir()), "versions removed"
    assert any("| 3,000 | retrieval | 180 |" in line for line in catalog_section(result))
