"""Run every benchmark scenario in one invocation, each on a fresh embedded broker.

Fresh for each scenario because the embedded broker (Tansu, memory storage) slows as it fills:
measured at a constant 7.5k events/s for 60 s, its CPU rose from 0.29 to 0.67 cores and the
worker's p50 from 32 to 640 ms, with nothing else changing. On one broker for the whole run,
each scenario measured how much the ones before it had produced.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from app.inference.registry import ModelRegistry
from app.kafka.brokers import Brokers
from app.kafka.partitioners import PARTITIONERS, KeyPartitioner
from app.kafka.topics import ensure_topics
from app.settings import get_settings
from app.training.movielens import load_ratings
from devtools.bench.catalog import run_catalog
from devtools.bench.catalog_plan import CatalogPlan
from devtools.bench.inference import InferencePlan, run_inference
from devtools.bench.load import Event, make_events, send_events
from devtools.bench.overload import OverloadPlan, run_overload
from devtools.bench.procstat import cpu_seconds, memory_bytes
from devtools.bench.trace import TRACED_LEVELS, SecondSampler, per_second, stage_sums
from devtools.bench.volume import deployment_topics, topic_volumes
from devtools.broker import EmbeddedBroker
from devtools.namespace import Namespace
from devtools.net import free_port, http_get, scrape_metrics
from devtools.processes import PROJECT_ROOT, WorkerProcess
from devtools.reader import Records, read_topics

__all__ = ["LIGHT_MODEL", "BenchConfig", "run_bench"]


PARTITIONS = 8
LIGHT_MODEL = "itemsvd"
"""Drained beside the served default: the cheapest committed model."""


def _served_model() -> str:
    """``name/version`` a worker with default model settings serves."""
    s = get_settings()
    scorer = ModelRegistry(s.model_dir).load(s.model_name)
    try:
        return f"{scorer.name}/{scorer.version}"
    finally:
        scorer.close()


@dataclass(frozen=True)
class BenchConfig:
    """How much load each scenario gets."""

    events: int = 60_000
    unbatched_events: int = 6_000
    latency_seconds: float = 15.0
    load_levels: tuple[float, ...] = (0.25, 0.5, 0.8, 0.95)
    table_users: int = 1_000_000
    overload: bool = True
    degrade_lag_s: float = 0.5
    """STREAMREC_DEGRADE_LAG_S of the overload run with degradation on."""
    catalog: CatalogPlan | None = field(default_factory=CatalogPlan)
    """The catalog scenario (None skips it)."""
    inference: InferencePlan | None = field(default_factory=InferencePlan)
    """The inference API scenario (None skips it)."""
    only: str = "all"
    """Run one scenario alone: ``catalog`` or ``inference`` (``faust -A app bench --only``)."""


class _Bench(Namespace):
    """A bench deployment: the streamrec topics plus the reference loop's output topic."""

    @property
    def reference_topic(self) -> str:
        return f"{self.name}.reference"

    async def create(self) -> None:
        names = [self.input_topic, self.dlq_topic, self.reference_topic]
        await ensure_topics(self.brokers, names, self.partitions)
        # As an operator makes it: it is also a changelog (docs/deployment/kafka.md).
        compacted = {"cleanup.policy": "compact"}
        await ensure_topics(self.brokers, [self.output_topic], self.partitions, compacted)

    def worker(self, index: int = 0, env: dict[str, str] | None = None) -> WorkerProcess:
        settings = {**self.worker_env(index), **(env or {})}
        return WorkerProcess(settings, log=self.root / f"{self.name}-{index}.log")


async def _collect(
    brokers: Brokers, topic: str, count: int, within_s: float
) -> list[tuple[int, bytes]]:
    """(timestamp ms, value) of the first ``count`` records of ``topic``."""
    records = await read_topics(brokers, [topic], lambda got: len(got) >= count, within_s=within_s)
    return [(r.timestamp, r.value) for r in records if r.value is not None]


class _CoreMeter:
    """Cores each named group of processes used since the meter was made (CPU seconds per
    wall second): on a shared machine, who took the CPU a figure depended on."""

    def __init__(self, pids: Mapping[str, Sequence[int]]) -> None:
        self._pids = pids
        self._t0 = time.monotonic()
        self._cpu0 = self._read()

    def _read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self._pids.items()}

    def cores(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        return {name: (cpu - self._cpu0[name]) / elapsed for name, cpu in self._read().items()}


def _moved_share(events: list[Event]) -> float:
    """Share of ``events`` a CRC32 producer puts where murmur2 does not."""
    crc, murmur = PARTITIONERS["crc32"], PARTITIONERS["murmur2"]
    moved = sum(crc(key, PARTITIONS) != murmur(key, PARTITIONS) for key, _, _ in events)
    return moved / max(1, len(events))


def _throughput(stamps_ms: list[int]) -> float:
    span = (max(stamps_ms) - min(stamps_ms)) / 1000
    return (len(stamps_ms) - 1) / span if span > 0 else float("nan")


def _stage_sums(url: str) -> dict[str, tuple[float, float]]:
    """(sum, count) per stage from the worker's /metrics."""
    return stage_sums(scrape_metrics(url))


async def _drain(
    ns: _Bench,
    events: list[Event],
    say: Callable[[str], None],
    label: str,
    producer: KeyPartitioner | None = None,
    *,
    volumes: bool = False,
    **env: str,
) -> dict[str, Any]:
    """Pre-load the input topic (``producer``: its partitioner), start a worker, measure how
    fast it turns it into outputs (``volumes``: and what it wrote, per topic)."""
    await send_events(ns.brokers, ns.input_topic, events, partitioner=producer)
    worker = ns.worker(env=env).start()
    try:
        await asyncio.to_thread(worker.wait_ready, 120)
        assert worker.process is not None
        pid = worker.process.pid
        cpu0 = cpu_seconds(pid)
        out = await _collect(ns.brokers, ns.output_topic, len(events), within_s=900)
        cpu = cpu_seconds(pid) - cpu0
        mem = memory_bytes(pid)
    finally:
        worker.stop()
    ids = {msgspec.json.decode(v)["event_id"] for _, v in out}
    complete = ids == {e[2] for e in events}
    rate = _throughput([t for t, _ in out])
    say(f"  {label}: {rate:,.0f} events/s, {len(out)} outputs, complete={complete}")
    row: dict[str, Any] = {"events": len(events), "outputs": len(out), "complete": complete,
           "events_per_s": rate, "cpu_s_per_1k": 1000 * cpu / len(events), **mem}  # fmt: skip
    if volumes:
        topics = await deployment_topics(ns.brokers, ns.name, exclude=[ns.input_topic])
        written = await topic_volumes(ns.brokers, topics)
        total = sum(v["records"] for v in written.values())
        say(f"    wrote {total / len(events):.2f} records per input event")
        row["written"] = written
    return row


async def _scale_out(
    ns: _Bench, events: list[Event], workers: int, broker_pid: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """``workers`` workers started and settled (all ready, the group stable) on an empty topic,
    then ``events`` produced flat out; every output checked (lost, duplicated)."""
    procs = [ns.worker(index=i).start() for i in range(workers)]
    try:
        await asyncio.to_thread(_settle, procs)
        cpu0 = sum(cpu_seconds(_pid(p)) for p in procs)
        meter = _CoreMeter({"workers": [_pid(p) for p in procs], "broker": [broker_pid],
                            "bench": [os.getpid()]})  # fmt: skip
        cores: dict[str, float] = {}

        def drained(got: Records) -> bool:
            if len(got) < len(events):
                return False
            if not cores:  # at the drain, not after the settle
                cores.update(meter.cores())
            return True

        await send_events(ns.brokers, ns.input_topic, events)
        records = await read_topics(
            ns.brokers, [ns.output_topic], drained, within_s=900, settle_s=2.0
        )
        cpu = sum(cpu_seconds(_pid(p)) for p in procs) - cpu0
    finally:
        for p in procs:
            p.stop()
    ids = [msgspec.json.decode(r.value or b"{}")["event_id"] for r in records]
    lost = len({e[2] for e in events} - set(ids))
    rate = _throughput([r.timestamp for r in records])
    say(f"  {workers} worker(s): {rate:,.0f} events/s, lost {lost}, "
        f"duplicated {len(ids) - len(set(ids))}")  # fmt: skip
    return {"workers": workers, "events": len(events), "events_per_s": rate,
            "cpu_s_per_1k": 1000 * cpu / len(events), "lost": lost,
            "duplicated": len(ids) - len(set(ids)), "cores": cores}  # fmt: skip


def _pid(worker: WorkerProcess) -> int:
    assert worker.process is not None
    return worker.process.pid


def _settle(workers: list[WorkerProcess], stable_s: float = 3.0) -> None:
    """Return once every worker has answered ready for ``stable_s`` in a row (the last join's
    rebalance is over)."""
    for worker in workers:
        worker.wait_ready(180)
    deadline, since = time.monotonic() + 180, time.monotonic()
    while time.monotonic() < deadline:
        if not all(http_get(w.web_url + "/health/ready", timeout=2)[0] == 200 for w in workers):
            since = time.monotonic()
        elif time.monotonic() - since >= stable_s:
            return
        time.sleep(0.2)
    raise TimeoutError("the workers did not settle: " + workers[-1].tail())


def _reference_cmd(ns: _Bench, count: int) -> list[str]:
    """The plain aiokafka loop: ``count`` records of the input topic from its start."""
    return [sys.executable, "-m", "devtools.bench.reference", ns.brokers.servers[0],
            ns.input_topic, ns.reference_topic, str(count)]  # fmt: skip


async def _reference(ns: _Bench, count: int, say: Callable[[str], None]) -> dict[str, Any]:
    """The plain aiokafka loop over the (already loaded) input topic."""
    proc = await asyncio.create_subprocess_exec(
        *_reference_cmd(ns, count), cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE
    )
    out = await _collect(ns.brokers, ns.reference_topic, count, within_s=600)
    stdout, _ = await proc.communicate()
    usage = msgspec.json.decode(stdout.strip().splitlines()[-1])
    rate = _throughput([t for t, _ in out])
    say(f"  aiokafka reference loop: {rate:,.0f} events/s, {len(out)} outputs")
    cpu_per_1k = 1000 * usage["cpu_s"] / count
    return {"events": count, "outputs": len(out), "events_per_s": rate,
            "cpu_s_per_1k": cpu_per_1k, "peak_rss": usage["peak_rss"]}  # fmt: skip


@dataclass(frozen=True)
class _Subject:
    """What a latency sweep drives: its process, the topic its outputs land on, and its
    /metrics (the worker's per-stage times; none for the reference loop)."""

    pid: int
    output_topic: str
    web_url: str | None


@asynccontextmanager
async def _subject(ns: _Bench, reference: bool, count: int) -> AsyncIterator[_Subject]:
    """A worker, or the reference loop sized for ``count`` records; stopped on the way out."""
    if reference:
        proc = await asyncio.create_subprocess_exec(
            *_reference_cmd(ns, count), cwd=PROJECT_ROOT, stdout=asyncio.subprocess.DEVNULL
        )
        try:
            yield _Subject(proc.pid, ns.reference_topic, None)
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        return
    worker = ns.worker().start()
    try:
        await asyncio.to_thread(worker.wait_ready, 120)
        yield _Subject(_pid(worker), ns.output_topic, worker.web_url)
    finally:
        worker.stop()


async def _latency(
    ns: _Bench,
    ratings: Any,
    rates: list[float],
    seconds: float,
    broker_pid: int,
    say: Callable[[str], None],
    *,
    reference: bool = False,
) -> list[dict[str, Any]]:
    """Open-loop constant-rate load; end-to-end latency = output time - input time; the cores
    the pipeline, the broker and the load generator (this process) used while it ran."""
    counts = [int(rate * seconds) for rate in rates]
    # Warm-up, not measured: a fresh worker's first seconds (new table keys, first fetches
    # on every partition) would otherwise land in the first level's tail.
    warm = make_events(ratings, int(rates[0] * 3), tag="w")
    results = []
    async with _subject(ns, reference, len(warm) + sum(counts)) as subject:
        await send_events(ns.brokers, ns.input_topic, warm, rate=rates[0])
        sent_total = len(warm)
        await _collect(ns.brokers, subject.output_topic, sent_total, within_s=120)
        for level, (rate, count) in enumerate(zip(rates, counts, strict=True)):
            events = make_events(ratings, count, tag=f"l{level}")
            before = _stage_sums(subject.web_url) if subject.web_url else {}
            pids = {"pipeline": [subject.pid], "broker": [broker_pid], "load": [os.getpid()]}
            meter = _CoreMeter(pids)
            # A per-second trace at 25% and 50% (issue #39: what runs when the tail stalls).
            sampler = SecondSampler(pids, subject.web_url) if level < TRACED_LEVELS else None
            if sampler is not None:
                sampler.start()
            achieved = await send_events(ns.brokers, ns.input_topic, events, rate=rate)
            cores = meter.cores()
            sent_total += count
            out = await _collect(ns.brokers, subject.output_topic, sent_total, within_s=120)
            samples = await sampler.stop() if sampler is not None else []
            inputs = await _collect(ns.brokers, ns.input_topic, sent_total, within_s=60)
            sent_at = {msgspec.json.decode(value)["event_id"]: ts for ts, value in inputs}
            lat, produced = [], []
            for ts, value in out:
                event_id = msgspec.json.decode(value)["event_id"]
                if event_id.startswith(f"l{level}-"):
                    lat.append(ts - sent_at[event_id])
                    produced.append(ts / 1000)
            stages = {}
            if subject.web_url:
                for stage, (total, n) in _stage_sums(subject.web_url).items():
                    t0, n0 = before.get(stage, (0.0, 0.0))
                    stages[stage] = 1000 * (total - t0) / max(n - n0, 1)
            p = [
                float(x) for x in np.percentile(np.array(lat, dtype=np.float64), [50, 95, 99, 99.9])
            ]
            row = {"target_rate": rate, "achieved_rate": achieved, "events": count,
                   "outputs": len(lat), "p50_ms": p[0], "p95_ms": p[1], "p99_ms": p[2],
                   "p999_ms": p[3], "stage_ms_per_batch": stages, "cores": cores}  # fmt: skip
            if samples:
                row["trace"] = per_second(samples, list(zip(produced, lat, strict=True)))
            say(f"  {rate:,.0f}/s: p50 {p[0]:.1f} ms, p99 {p[2]:.1f} ms, p99.9 {p[3]:.1f} ms; "
                + ", ".join(f"{k} {v:.2f}" for k, v in cores.items()) + " cores")  # fmt: skip
            results.append(row)
    return results


@asynccontextmanager
async def _fresh_broker(root: Path, scenario: str) -> AsyncIterator[tuple[_Bench, int]]:
    """A new embedded broker for one scenario, its topics created: their namespace and the
    broker's pid."""
    log = root / f"broker-{scenario}.log"
    with EmbeddedBroker("127.0.0.1", free_port(), log=log) as broker:
        assert broker.process is not None
        ns = _Bench(broker.url, root, PARTITIONS)
        await ns.create()
        yield ns, broker.process.pid


async def run_bench(config: BenchConfig, say: Callable[[str], None]) -> dict[str, Any]:
    """All scenarios; figures are meant to be compared as ratios within this one run."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="streamrec-bench-") as tmp:
        root = Path(tmp)
        if config.only == "all":
            await _pipeline_scenarios(config, root, result, say)
        if config.catalog is not None and config.only in ("all", "catalog"):
            say("catalog size (pre-loaded topic, one worker; exhaustive vs the ANN index):")
            result["catalog"] = await run_catalog(root, config.catalog, _fresh_broker, say)
        if config.inference is not None and config.only in ("all", "inference"):
            say("inference API (one worker; REST by wrk, gRPC by Python processes):")
            result["inference"] = await run_inference(root, config.inference, _fresh_broker, say)
    return result


async def _pipeline_scenarios(
    config: BenchConfig, root: Path, result: dict[str, Any], say: Callable[[str], None]
) -> None:
    """The MovieLens scenarios: throughput, scale-out, latency, overload, footprint."""
    ratings = load_ratings()
    say("throughput (pre-loaded topic, one worker, outputs verified):")
    async with _fresh_broker(root, "drain") as (ns, _):
        events = make_events(ratings, config.events, tag="t")
        result["pipeline"] = await _drain(ns, events, say, "full pipeline", volumes=True)
    # A shop's traffic: every event from a different user (issue #39); MovieLens' users rate
    # in bursts, so a batch there holds a few users with many events each.
    async with _fresh_broker(root, "distinct") as (ns, _):
        distinct = make_events(ratings, config.events, distinct_users=config.events, tag="d")
        result["distinct_users"] = await _drain(
            ns, distinct, say, "one user per event", volumes=True
        )
    async with _fresh_broker(root, "reference") as (ns, _):
        await send_events(ns.brokers, ns.input_topic, events)  # the same events
        result["reference"] = await _reference(ns, config.events, say)
    # The served default against the light model, on the same events (issue #38).
    result["served_model"] = _served_model()
    async with _fresh_broker(root, "light") as (ns, _):
        result["light"] = await _drain(
            ns, events, say, f"the light model (STREAMREC_MODEL_NAME={LIGHT_MODEL})",
            STREAMREC_MODEL_NAME=LIGHT_MODEL,
        )  # fmt: skip
        result["light"]["model"] = LIGHT_MODEL

    async with _fresh_broker(root, "unbatched") as (ns, _):
        events = make_events(ratings, config.unbatched_events, tag="u")
        result["unbatched"] = await _drain(
            ns, events, say, "batching disabled (MAX_BATCH=1)", STREAMREC_MAX_BATCH="1"
        )

    # The partition move: a CRC32 producer (confluent-kafka's default) puts about 7 in
    # 8 events on a partition murmur2 does not give their user; each is produced again.
    async with _fresh_broker(root, "moved") as (ns, _):
        events = make_events(ratings, config.events, tag="c")
        result["moved"] = await _drain(
            ns, events, say, "CRC32 producer (records moved)", KeyPartitioner("crc32")
        )
        result["moved"]["moved_share"] = _moved_share(events)

    # What counting trends costs: the same drain with the by-item topic and its agent.
    async with _fresh_broker(root, "trending") as (ns, _):
        events = make_events(ratings, config.events, tag="n")
        result["trending"] = await _drain(
            ns, events, say, "trending on (STREAMREC_TRENDING=true)", STREAMREC_TRENDING="true"
        )

    say("scale-out (workers settled first, then the events produced flat out):")
    result["scale_out"] = []
    for workers in (1, 2):
        async with _fresh_broker(root, f"scale-{workers}") as (ns, broker_pid):
            events = make_events(ratings, config.events, tag=f"s{workers}")
            result["scale_out"].append(await _scale_out(ns, events, workers, broker_pid, say))

    top = result["pipeline"]["events_per_s"]
    rates = [round(top * level) for level in config.load_levels]
    for key, reference, title in (
        ("latency", False, "open loop, constant rate"),
        ("reference_latency", True, "the plain aiokafka loop, same rates, same fetch wait"),
    ):
        say(f"latency ({title}):")
        async with _fresh_broker(root, key) as (ns, broker_pid):
            result[key] = await _latency(
                ns, ratings, rates, config.latency_seconds, broker_pid, say, reference=reference
            )

    if config.overload:
        plan = OverloadPlan(result["pipeline"]["events_per_s"])
        say(f"overload ({plan.high:.0%} of the maximum for {plan.high_s:.0f} s, then "
            f"{plan.low:.0%} for {plan.low_s:.0f} s), degradation off and on:")  # fmt: skip
        result["overload"] = []
        for lag in (0.0, config.degrade_lag_s):
            async with _fresh_broker(root, f"overload-{lag:g}") as (ns, _):
                env = {"STREAMREC_DEGRADE_LAG_S": str(lag)} if lag else {}
                result["overload"].append(await run_overload(ns, env, ratings, plan, say))

    if config.table_users:
        say(f"footprint with {config.table_users:,} distinct users in the table:")
        async with _fresh_broker(root, "table") as (ns, _):
            events = make_events(
                ratings, config.table_users, distinct_users=config.table_users, tag="m"
            )
            result["table"] = await _drain(ns, events, say, "fill")
            result["table"]["users"] = config.table_users
