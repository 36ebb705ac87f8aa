"""The catalog scenario: one worker draining the same load for catalogs of 2k to 1M items,
every item scored exactly against the ANN index.

For each size the bench writes a synthetic clustered two-tower version (devtools/catalog.py),
prebuilds its index with the code of ``faust -A app index`` (all cores; that build is the
"index build time"), pre-loads the input topic of a fresh broker and starts a real
``faust -A app worker`` on it. Exhaustive runs serve the very same version with
STREAMREC_RETRIEVAL_EXHAUSTIVE_BELOW above the catalog size, so the two modes differ only in
how candidates are found. Recall@10: each sampled user's update for their last event
against an exact numpy top 10 over the same history, seen items masked.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import msgspec

from app.inference.index_file import prebuild_index
from app.kafka.brokers import Brokers
from app.settings import get_settings
from devtools.bench.catalog_plan import (
    GROUPS,
    CatalogPlan,
    CatalogRun,
    catalog_events,
    exact_top10,
    histories,
    recall_at_10,
    served_top,
)
from devtools.bench.load import Event, send_events
from devtools.bench.procstat import cpu_seconds, memory_bytes
from devtools.catalog import Catalog, clustered_catalog, write_two_tower_version
from devtools.processes import WorkerProcess
from devtools.reader import read_topics

__all__ = ["FreshBroker", "run_catalog"]

logger = logging.getLogger(__name__)


class _Deployment(Protocol):
    @property
    def brokers(self) -> Brokers: ...
    @property
    def input_topic(self) -> str: ...
    @property
    def output_topic(self) -> str: ...
    def worker(self, index: int = 0, env: dict[str, str] | None = None) -> WorkerProcess: ...


FreshBroker = Callable[[Path, str], AbstractAsyncContextManager[tuple[Any, int]]]
"""The runner's ``_fresh_broker``: (deployment, broker pid) on a new embedded broker."""

# A million-item version loads a 256 MB query graph and its index before it is ready.
_READY_S = 600
_DRAIN_S = 1800


def _name(size: int) -> str:
    return f"catalog{size}"


def _index(version: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Prebuild the version's index as ``faust -A app index`` does (all cores)."""
    settings = get_settings().model_copy(update={"retrieval_build_threads": 0})
    report = prebuild_index(version, settings)
    say(f"  index: {report.items:,} items in {report.build_s:.1f} s, "
        f"{report.size_bytes / 2**20:,.0f} MiB, "
        f"its own recall@10 {report.recall_at_10:.3f}")  # fmt: skip
    return {"build_s": report.build_s, "size_bytes": report.size_bytes,
            "own_recall_at_10": report.recall_at_10}  # fmt: skip


def _rate(stamps_ms: list[int]) -> float:
    span = (max(stamps_ms) - min(stamps_ms)) / 1000 if stamps_ms else 0.0
    return (len(stamps_ms) - 1) / span if span > 0 else float("nan")


async def _drain(
    ns: _Deployment, events: list[Event], env: dict[str, str]
) -> tuple[dict[str, Any], list[bytes]]:
    """Pre-load the events, start a worker, read every output: its figures and the values."""
    await send_events(ns.brokers, ns.input_topic, events)
    worker = ns.worker(env=env).start()
    try:
        started = time.monotonic()
        await asyncio.to_thread(worker.wait_ready, _READY_S)
        ready_s = time.monotonic() - started
        assert worker.process is not None
        pid = worker.process.pid
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        records = await read_topics(
            ns.brokers, [ns.output_topic], lambda got: len(got) >= len(events), within_s=_DRAIN_S
        )
        cpu, wall = cpu_seconds(pid) - cpu0, time.monotonic() - wall0
        mem = memory_bytes(pid)
    finally:
        worker.stop()
    values = [r.value for r in records if r.value is not None]
    figures = {"events": len(events), "outputs": len(values), "ready_s": ready_s,
               "events_per_s": _rate([r.timestamp for r in records]),
               "cpu_s_per_1k": 1000 * cpu / len(events), "worker_cores": cpu / wall,
               **mem}  # fmt: skip
    return figures, values


def _seen_served(served: Mapping[str, Sequence[str]], users: Mapping[str, Sequence[str]]) -> int:
    """Users whose last update recommends an item they interacted with (must be 0)."""
    return sum(bool(set(items) & set(users[user])) for user, items in served.items())


async def _run(
    ns: _Deployment, run: CatalogRun, users: Mapping[str, list[str]],
    exact: Mapping[str, Mapping[str, list[str]]], models: Path,
) -> dict[str, Any]:  # fmt: skip
    """One drain of ``run`` and its recall per group."""
    subset = {u: h for u, h in users.items() if int(u[1:]) < run.users}
    events = catalog_events(subset)
    below = run.items + 1 if run.mode == "exhaustive" else 0
    env = {"STREAMREC_MODEL_DIR": str(models), "STREAMREC_MODEL_NAME": _name(run.items),
           "STREAMREC_RETRIEVAL_EXHAUSTIVE_BELOW": str(below)}  # fmt: skip
    figures, values = await _drain(ns, events, env)
    served = served_top(values, subset)
    ids = set(_event_ids(values))
    return {
        "items": run.items, "mode": run.mode, "again": run.again, "users": len(subset), **figures,
        "complete": ids == {e[2] for e in events},
        "answered": len(served), "seen_recommended": _seen_served(served, subset),
        "recall_at_10": {g: recall_at_10(served, exact[g]) for g in GROUPS},
    }  # fmt: skip


def _event_ids(values: list[bytes]) -> list[str]:
    return [msgspec.json.decode(v)["event_id"] for v in values]


def _exact(catalog: Catalog, users: Mapping[str, list[str]], plan: CatalogPlan) -> dict[str, Any]:
    """Exact top 10 of the sampled users (the first ``recall_users`` of each group)."""
    out = {}
    for group, (prefix, _) in GROUPS.items():
        sample = {f"{prefix}{n}": users[f"{prefix}{n}"] for n in range(plan.sampled_users)}
        out[group] = exact_top10(catalog, sample)
    return out


def _say_run(row: dict[str, Any], say: Callable[[str], None]) -> None:
    recall = ", ".join(f"{g} {r:.3f}" for g, r in row["recall_at_10"].items())
    say(f"  {row['mode']}: {row['events_per_s']:,.0f} events/s, {row['cpu_s_per_1k']:.2f} CPU s "
        f"per 1k, peak RSS {row.get('peak_rss', 0) / 2**20:,.0f} MiB, recall@10 {recall}, "
        f"complete={row['complete']}, seen recommended {row['seen_recommended']}")  # fmt: skip


async def _size(
    root: Path, plan: CatalogPlan, size: int, runs: list[CatalogRun],
    fresh_broker: FreshBroker, say: Callable[[str], None], result: dict[str, Any],
) -> None:  # fmt: skip
    """Write the version of ``size`` items (and its index if a run retrieves), drain each run
    on its own broker, remove the version."""
    models = root / "catalog-models"
    say(f"catalog of {size:,} items{' (the reference again)' if runs[0].again else ''}:")
    catalog = clustered_catalog(size, plan.dims, plan.clusters, seed=0)
    version = write_two_tower_version(models, _name(size), "1", catalog)
    if any(r.mode == "retrieval" for r in runs):
        result["indexes"][str(size)] = await asyncio.to_thread(_index, version, say)
    users = histories(catalog, plan)
    exact = await asyncio.to_thread(_exact, catalog, users, plan)
    for run in runs:
        label = f"catalog-{size}-{run.mode}-{len(result['runs'])}"  # the broker's log name
        async with fresh_broker(root, label) as (ns, _):
            row = await _run(ns, run, users, exact, models)
        _say_run(row, say)
        result["runs"].append(row)
    shutil.rmtree(models / _name(size))


async def run_catalog(
    root: Path, plan: CatalogPlan, fresh_broker: FreshBroker, say: Callable[[str], None]
) -> dict[str, Any]:
    """Every run of ``plan``, each on its own broker; versions are removed after their size."""
    result: dict[str, Any] = {"plan": vars(plan), "sampled_users": plan.sampled_users,
                              "indexes": {}, "runs": []}  # fmt: skip
    runs = plan.runs()
    for size in plan.sizes:
        mine = [r for r in runs if r.items == size and not r.again]
        await _size(root, plan, size, mine, fresh_broker, say, result)
    again = [r for r in runs if r.again]
    if again:
        await _size(root, plan, plan.sizes[0], again, fresh_broker, say, result)
    return result
