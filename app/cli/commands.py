"""Faust CLI commands: ``faust -A app <bench|broker|demo|evaluate|models|replay|retrain|train|
verify>``.

Each is an ``async def`` taking Faust's ``AppCommand``; ``register_commands()`` (called by the
app factory) adds them to Faust's command line. Their heavy parts are imported when they run.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from faust.cli import AppCommand, option

from app.errors import StreamrecError
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.settings import get_settings
from app.worker.preflight import is_reachable

DAY_S = 86_400

if TYPE_CHECKING:
    from app.training.train import TrainingData

__all__ = [
    "bench", "broker", "demo", "evaluate", "models", "register_commands", "replay", "retrain",
    "train", "verify",
]  # fmt: skip


_Handler = Callable[..., Awaitable[None]]
_COMMANDS: list[tuple[_Handler, tuple[Any, ...]]] = []


def _command(*options: Any) -> Callable[[_Handler], _Handler]:
    """Mark an ``async def`` as a command with these click options (see register_commands)."""

    def collect(fun: _Handler) -> _Handler:
        _COMMANDS.append((fun, options))
        return fun

    return collect


def register_commands() -> None:
    """Add streamrec's commands to ``faust``'s command line (a Faust-wide click group)."""
    for fun, options in _COMMANDS:
        AppCommand.from_handler(*options)(fun)


@_command(
    option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on."),
    option("--port", default=9092, type=int, show_default=True, help="Port to listen on."),
)
async def broker(self: AppCommand, host: str, port: int) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory only) until Ctrl-C."""
    from devtools.broker import EmbeddedBroker

    with EmbeddedBroker(host, port):
        self.say(f"broker ready: kafka://{host}:{port}  (memory only; Ctrl-C stops it)")
        await asyncio.Event().wait()


@_command(
    option("--rate", default=1000.0, type=float, show_default=True,
           help="Events per second (0 = as fast as possible)."),
    option("--count", default=0, type=int, help="Stop after this many events (0 = all)."),
    option("--users", default="", help="Only these user ids (comma separated)."),
    option("--sample-users", default=0, type=int,
           help="Only a random sample of this many users (seeded)."),
    option("--seed", default=0, type=int, show_default=True, help="Seed for --sample-users."),
    option("--no-progress", is_flag=True, default=False, help="No progress bar."),
)  # fmt: skip
async def replay(
    self: AppCommand,
    rate: float,
    count: int,
    users: str,
    sample_users: int,
    seed: int,
    no_progress: bool,
) -> None:
    """Produce MovieLens-100k interactions to the input topic in timestamp order."""
    from devtools.replay import replay_movielens

    sent = await replay_movielens(
        get_settings(),
        rate=rate,
        count=count,
        users={u.strip() for u in users.split(",") if u.strip()},
        sample_users=sample_users,
        seed=seed,
        progress=not no_progress,
    )
    self.say(f"replayed {sent} interactions")


@_command(
    # Eager: parsed before --seeds, wherever it stands, for --seeds' check.
    option("--algorithm", type=click.Choice(["itemsvd", "itemsvd-rated", "sasrec", "hybrid"]),
           default="itemsvd", show_default=True, is_eager=True,
           help="itemsvd (numpy, seconds), itemsvd-rated (itemsvd that also reads each "
                "event's rating: a two-input model), sasrec (PyTorch, minutes) or hybrid "
                "(SASRec + ItemSVD in one graph, PyTorch, minutes)."),
    option("--model-dir", default=None, help="Registry root (default STREAMREC_MODEL_DIR)."),
    option("--name", default=None, help="Model name (default: the algorithm's name)."),
    option("--seed", default=0, type=int, show_default=True,
           help="Training seed of sasrec and hybrid (the same seed, the same model)."),
    option("--seeds", default="", callback=lambda ctx, _, value: _seeds(ctx, value),
           help="hybrid only: train each of these seeds (comma separated, e.g. 0,1,2), write "
                "the best on validation, and record every seed's figures, mean and spread in "
                "its manifest (training.seeds). Takes as long as that many trainings."),
)  # fmt: skip
async def train(
    self: AppCommand,
    algorithm: str,
    model_dir: str | None,
    name: str | None,
    seed: int,
    seeds: list[int],
) -> None:
    """Train a model on MovieLens-100k and write the next version into the registry."""

    root = Path(model_dir) if model_dir else get_settings().model_dir
    trainer = _trainer(root, name or algorithm, seed, seeds)
    path = await asyncio.to_thread(trainer, algorithm, None)
    self.say(f"wrote {path}")


def _seeds(ctx: click.Context, value: str) -> list[int]:
    """``--seeds``, checked while the command line is parsed (a usage error, not a trace)."""
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"not comma-separated integers: {value!r}") from None
    if seeds and ctx.params.get("algorithm") != "hybrid":
        raise click.BadParameter("only with --algorithm hybrid")
    return seeds


def _trainer(
    root: Path, name: str, seed: int, seeds: Sequence[int] = ()
) -> Callable[[str, TrainingData | None], Path]:
    """Train an algorithm on ``data`` (default ml-100k) and write the next version of ``name``."""
    from app.training.itemsvd import RATED_WEIGHT, ItemSvdParams
    from app.training.train import train_hybrid, train_itemsvd, train_sasrec

    def run(algorithm: str, data: TrainingData | None) -> Path:
        if algorithm in ("sasrec", "hybrid"):
            from app.training.sasrec import SasRecParams

            params = SasRecParams(seed=seed)
            if algorithm == "sasrec":
                return train_sasrec(root, name, params, data=data)
            return train_hybrid(root, name, params, data=data, seeds=seeds)
        weight = RATED_WEIGHT if algorithm == "itemsvd-rated" else 0.0
        return train_itemsvd(root, name, ItemSvdParams(rating_weight=weight), data=data)

    return run


@_command(
    option("--algorithm", default=None,
           type=click.Choice(["itemsvd", "itemsvd-rated", "sasrec", "hybrid"]),
           help="What to train (default: the serving version's algorithm, else itemsvd)."),
    option("--since", default="", help="Read the topic from this time on: unix seconds or "
           "ISO 8601, e.g. 2026-12-01T00:00:00Z (default: its whole retention)."),
    option("--seed", default=0, type=int, show_default=True, help="Training seed."),
    option("--tolerance", default=0.001, type=click.FloatRange(0, 1), show_default=True,
           help="How far below the serving version's test NDCG@10 a new version may be."),
)  # fmt: skip
async def retrain(
    self: AppCommand, algorithm: str | None, since: str, seed: int, tolerance: float
) -> None:
    """Train the next version of STREAMREC_MODEL_NAME from the input topic; publish it only
    if it is not worse offline than the serving version on the same held-out events."""
    from app.errors import RetrainRefused
    from app.inference.registry import ModelRegistry
    from app.rollout.admin import AdminAuth
    from app.rollout.control import read_rollout_state
    from app.rollout.state import RolloutState
    from app.training.retrain import Serving, retrain_from
    from app.training.topic_data import read_interactions

    s = get_settings()
    brokers = Brokers.from_settings(s)
    registry = ModelRegistry(s.model_dir)
    state = RolloutState(*s.canary_split) if s.canary_split else RolloutState()
    auth = AdminAuth(s.admin_secret)
    if auth.enabled:  # the workers obey the control topic's rollout state: so does this
        state = await read_rollout_state(brokers, s.control_topic, s.model_name, auth, state)
    serving_version = s.model_version or state.main_version(registry.versions(s.model_name))
    serving = Serving(registry, s.model_name, serving_version)
    topic = await read_interactions(
        brokers, s.input_topic, max_bytes=s.max_message_bytes,
        max_future_skew_s=s.max_future_skew_s, since_ms=_since_ms(since),
    )  # fmt: skip
    self.say(f"read {topic.records:,} records of {s.input_topic}: {len(topic.ratings):,} "
             f"interactions; skipped {topic.skipped or 'none'}")  # fmt: skip
    try:
        path = await asyncio.to_thread(
            retrain_from,
            topic,
            serving,
            algorithm,
            _trainer(s.model_dir, s.model_name, seed),
            tolerance,
        )
    except RetrainRefused as exc:
        print(f"streamrec: retrain: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    self.say(f"wrote {path}")


def _since_ms(since: str) -> int | None:
    """``--since`` as unix milliseconds (None: from the start)."""
    import datetime as dt

    if not since:
        return None
    try:
        return int(float(since) * 1000)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(since)
    except ValueError:
        msg = f"{since!r}: unix seconds or ISO 8601"
        raise click.BadParameter(msg, param_hint="--since") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


@_command(
    option("--version", default=None, help="Model version (default: the one a worker serves)."),
    option("--stream", is_flag=True,
           help="Measure through the running deployment instead: replay ml-100k but each "
                "user's last interaction into the input topic and score each user's last "
                "update against it (use a fresh deployment: its state is the history)."),
    option("--rate", default=0.0, type=float, help="With --stream: events/s (0 = flat out)."),
)  # fmt: skip
async def evaluate(self: AppCommand, version: str | None, stream: bool, rate: float) -> None:
    """HR@10, NDCG@10, MRR@10 with 95% bootstrap intervals on the ml-100k test split: of
    the served model and two baselines offline, or (--stream) of what the workers emit."""
    s = get_settings()
    if stream:
        from devtools.stream_eval import stream_relevance

        self.say(f"replaying ml-100k but each user's last interaction into {s.input_topic}")
        row = await stream_relevance(
            Brokers.from_settings(s), s.input_topic, s.output_topic, rate=rate, progress=True,
            partitioner=KeyPartitioner(s.key_partitioner),
        )  # fmt: skip
        self.say(f"{row['answered']} of {row['users']} users answered")
        rows = [{"model": "stream", **row}]
    else:
        from app.inference.registry import ModelRegistry
        from app.training.evaluate import offline_report, seeds_line
        from app.training.train import catalogue

        scorer = ModelRegistry(s.model_dir).load(s.model_name, version)
        rows = await asyncio.to_thread(offline_report, scorer, catalogue())
        seeds = seeds_line(scorer.manifest.training)
    self.say(f"{'model':28} {'HR@10 [95% CI]':>24} {'NDCG@10 [95% CI]':>24} {'MRR@10':>7}  users")
    for r in rows:
        cells = [f"{r[m]:.4f} [{r[m + '_ci'][0]:.3f}, {r[m + '_ci'][1]:.3f}]"
                 for m in ("hr@10", "ndcg@10")]  # fmt: skip
        self.say(f"{r['model']:28} {cells[0]:>24} {cells[1]:>24} {r['mrr@10']:7.4f}  {r['users']}")
    if not stream and seeds:
        self.say(seeds)


@_command(
    option("--rate", default=500.0, type=float, show_default=True, help="Replay events/s."),
    option("--count", default=0, type=int, help="Replay at most this many events (0 = all)."),
)
async def demo(self: AppCommand, rate: float, count: int) -> None:
    """Local run: the embedded broker if none answers, one worker, MovieLens replayed into it."""
    from devtools.broker import EmbeddedBroker
    from devtools.processes import WorkerProcess

    s = get_settings()
    host, _, port = s.bootstrap_servers[0].rpartition(":")
    embedded: EmbeddedBroker | None = None
    env = {}
    if not is_reachable(host, int(port)):
        embedded = EmbeddedBroker(host, int(port), log=Path("var/broker.log")).start()
        # The embedded broker starts empty, so state left from an earlier run is meaningless.
        data_dir = Path("var/demo-data")
        shutil.rmtree(data_dir, ignore_errors=True)
        env["STREAMREC_DATA_DIR"] = str(data_dir)
        self.say(f"started the embedded broker on {embedded.url} (log: var/broker.log)")
    else:
        self.say(f"using the broker at {s.broker}")
    # Trending on for the demo (its 500 events/s are well within what it keeps up with). The
    # replay squeezes MovieLens' seven months into minutes (a day of event time passes in
    # about a second): trending windows of a week by the day fit it, unless set.
    if "trending" not in s.model_fields_set:
        env["STREAMREC_TRENDING"] = "true"
    if not s.model_fields_set & {"trending_window_s", "trending_step_s",
                                 "trending_retention_s", "trending_grace_s"}:  # fmt: skip
        env.update(STREAMREC_TRENDING_WINDOW_S=str(7 * DAY_S), STREAMREC_TRENDING_STEP_S=str(DAY_S),
                   STREAMREC_TRENDING_RETENTION_S=str(28 * DAY_S),
                   STREAMREC_TRENDING_GRACE_S=str(2 * DAY_S))  # fmt: skip
    worker = WorkerProcess(env, log=Path("var/worker.log")).start()
    # SIGTERM (not only Ctrl-C) must also stop the broker and worker this command started.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    feeding: asyncio.Task[int] | None = None
    try:
        self.say("starting a worker (log: var/worker.log) ...")
        await asyncio.to_thread(worker.wait_ready)
        url = worker.web_url
        self.say(
            f"worker ready. Look at:\n"
            f"  {url}/?user=259              the operator page (for people), user 259 looked up\n"
            f"  {url}/recommendations/259/   latest recommendations of user 259\n"
            f"  {url}/features/259/          that user's feature state\n"
            f"  {url}/metrics                Prometheus metrics\n"
            f"  {url}/trending/?n=5           what the replay's users watch most this week\n"
            f"replaying MovieLens-100k at {rate:.0f} events/s; Ctrl-C stops everything."
        )
        from devtools.replay import replay_movielens

        feeding = asyncio.create_task(replay_movielens(s, rate=rate, count=count))
        await feeding
        self.say("replay finished; the worker keeps serving until Ctrl-C.")
        await asyncio.Event().wait()
    finally:
        # Stop in dependency order: the replay's producer, the worker, then the broker.
        if feeding is not None:
            feeding.cancel()
            await asyncio.gather(feeding, return_exceptions=True)
        await asyncio.to_thread(worker.stop)
        if embedded is not None:
            embedded.stop()


@_command(
    option("--events", default=60_000, type=int, show_default=True,
           help="Events for the throughput runs."),
    option("--latency-seconds", default=15.0, type=float, show_default=True,
           help="Length of each constant-rate latency run."),
    option("--table-users", default=1_000_000, type=int, show_default=True,
           help="Distinct users for the footprint run (0 skips it)."),
    option("--out", default=".", show_default=True, help="Where BENCHMARKS.md/.json go."),
)  # fmt: skip
async def bench(
    self: AppCommand, events: int, latency_seconds: float, table_users: int, out: str
) -> None:
    """Throughput, latency and footprint of the pipeline vs a plain aiokafka loop (one run)."""
    from devtools.bench.report import machine_info, write_report
    from devtools.bench.runner import BenchConfig, run_bench

    config = BenchConfig(
        events=events,
        unbatched_events=max(1000, events // 10),
        latency_seconds=latency_seconds,
        table_users=table_users,
    )
    result = await run_bench(config, self.say)
    result["machine"] = machine_info()
    result["config"] = vars(config)
    self.say(write_report(result, Path(out)))


@_command(
    option("--users", default=100, type=int, show_default=True, help="Distinct users."),
    option("--per-user", default=20, type=int, show_default=True,
           help="Valid events per user, sequence-numbered."),
    option("--bad-users", default=1, type=int, show_default=True,
           help="Users that also get the malformed-input corpus mixed in (0 = none)."),
    option("--rate", default=1000.0, type=float, show_default=True,
           help="Records/s (0 = as fast as possible)."),
    option("--timeout", "within_s", default=120.0, type=float, show_default=True,
           help="Seconds to wait for every event to be accounted for."),
)  # fmt: skip
async def verify(
    self: AppCommand, users: int, per_user: int, bad_users: int, rate: float, within_s: float
) -> None:
    """Send sequence-numbered events (and malformed ones) to the running deployment, read
    the output and dead-letter topics, report lost / duplicated / DLQ by reason / order.

    Exits 1 if anything was lost, misrouted or reordered. Run it against workers that are up.
    """
    from app.training.train import catalogue
    from devtools.verify.check import make_traffic
    from devtools.verify.run import collect, send

    s = get_settings()
    traffic = make_traffic(
        users, per_user, catalogue(), bad_users=bad_users, max_bytes=s.max_message_bytes
    )
    self.say(f"run {traffic.run}: sending {len(traffic.records)} records to {s.input_topic}")
    brokers = Brokers.from_settings(s)
    await send(brokers, s.input_topic, traffic, rate, KeyPartitioner(s.key_partitioner))
    got = await collect(brokers, s.output_topic, s.dlq_topic, traffic, within_s=within_s)
    report = got.report(traffic)
    self.say(report.summary())
    if report.lost:
        self.say(f"first lost event ids: {', '.join(report.lost[:10])}")
    if not report.ok:
        raise SystemExit(1)


@_command(
    option("--reload", "action", flag_value="reload",
           help="Tell every worker (control topic) to serve the newest version (ends a "
           "promotion)."),
    option("--rollback", "action", flag_value="rollback",
           help="Tell every worker to go back to the version it served before."),
    option("--canary", default="", metavar="VERSION:PERCENT",
           help="Start or change the canary on every worker, e.g. 3:10 (no restart)."),
    option("--promote", "action", flag_value="promote",
           help="Make the canary the main version on every worker (the canary ends)."),
    option("--abort", "action", flag_value="abort",
           help="End the canary on every worker and refuse its version."),
    option("--url", default="", help="A worker to read the served arms from "
           "(default: http://WEB_HOST:WEB_PORT)."),
)  # fmt: skip
async def models(
    self: AppCommand,
    action: Literal["reload", "rollback", "promote", "abort"] | None,
    canary: str,
    url: str,
) -> None:
    """streamrec model versions with offline metrics and the arms a running worker serves;
    with an option, a command for every worker (signed with STREAMREC_ADMIN_TOKEN).

    Replaces Faust's own ``models`` (a list of faust.Record types, which streamrec has none of).
    """
    import aiohttp
    import msgspec

    from app.inference.manifest import read_manifest
    from app.inference.registry import ModelRegistry
    from app.rollout.admin import ENABLE_HINT, AdminAuth
    from app.rollout.control import ModelCommand, read_rollout_state, send_command
    from app.rollout.state import RolloutState
    from app.settings import parse_canary

    s = get_settings()
    if canary and action:
        raise click.UsageError("--canary goes alone, not with --" + action)
    if canary or action:
        auth = AdminAuth(s.admin_secret)
        wanted = "canary" if canary else action
        if not auth.enabled:
            print(f"streamrec: cannot send {wanted}: {ENABLE_HINT}", file=sys.stderr)
            raise SystemExit(2)
        initial = RolloutState(*s.canary_split) if s.canary_split else RolloutState()
        brokers = Brokers.from_settings(s)
        rollout = await read_rollout_state(brokers, s.control_topic, s.model_name, auth, initial)
        arg = ""
        try:
            if canary:
                parse_canary(canary)
                arg = canary
            elif action in ("promote", "abort"):
                arg = rollout.canary or ""
            if wanted in ("canary", "promote", "abort", "reload"):
                # Refused here, where the operator sees why, rather than by every worker.
                rollout.apply(wanted, arg, time.time() + 1.0)
        except StreamrecError as exc:
            print(f"streamrec: {wanted} not sent: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        command = ModelCommand(s.model_name, wanted, arg)  # type: ignore[arg-type]
        await send_command(brokers, s.control_topic, command, auth)
        self.say(f"sent {wanted} {arg} of {s.model_name} to every worker ({s.control_topic})")
        return
    url = (url or f"http://{s.web_host}:{s.web_port}").rstrip("/")
    registry = ModelRegistry(s.model_dir)
    versions = registry.versions(s.model_name)
    arms: dict[str, list[str]] = {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"{url}/models/") as resp,
        ):
            report = msgspec.json.decode(await resp.read())
        for arm in report["arms"]:
            state = f"{arm['variant']} {arm['traffic_percent']:g}%"
            if not arm["serving"]:
                state += " (not loaded)"
            arms.setdefault(str(arm["version"]), []).append(state)
        served = f"arms served by {url}"
        if state_shown := report.get("rollout"):
            served += "; rollout state " + msgspec.json.encode(state_shown).decode()
    except (OSError, aiohttp.ClientError, KeyError, TypeError, msgspec.DecodeError) as exc:
        served = f"no worker answered at {url} ({type(exc).__name__}): arms as configured here"
        main = s.model_version or (versions[-1] if versions else "-")
        arms.setdefault(main, []).append("main")
        if s.canary_split:
            arms.setdefault(s.canary_split[0], []).append(f"canary {s.canary_split[1]:g}%")
        if s.shadow:
            arms.setdefault(s.shadow, []).append("shadow")
    self.say(f"{s.model_name} in {s.model_dir}: {len(versions)} version(s); {served}")
    self.say(f"{'version':>8}  {'test hr@10':>10}  {'ndcg@10':>8}  {'algorithm':<10}  arms")
    for version in versions:
        try:
            manifest = read_manifest(registry.root / s.model_name / version)
        except StreamrecError as exc:
            self.say(f"{version:>8}  unreadable: {exc}")
            continue
        test = manifest.metrics.get("test", {})
        hr, ndcg = test.get("hr@10"), test.get("ndcg@10")
        self.say(
            f"{version:>8}  {hr if hr is None else f'{hr:.4f}':>10}  "
            f"{ndcg if ndcg is None else f'{ndcg:.4f}':>8}  "
            f"{manifest.training.get('algorithm', '?')!s:<10}  "
            f"{', '.join(arms.get(version, [])) or '-'}"
        )
