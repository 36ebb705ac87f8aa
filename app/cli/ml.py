"""Machine-learning commands: ``train``, ``retrain``, ``evaluate``, ``index``.

Training needs the ``train`` extra (PyTorch for sasrec and hybrid); each command imports its
heavy parts when it runs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from faust.cli import AppCommand, option

from app.cli.base import CommandSet
from app.errors import TrainingUnavailable
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.settings import get_settings

if TYPE_CHECKING:
    from app.training.retrain import Comparison
    from app.training.train import TrainingData

__all__ = ["COMMANDS", "evaluate", "index", "retrain", "train"]

COMMANDS = CommandSet()


@COMMANDS.command(
    # Eager: parsed before --seeds, wherever it stands, for --seeds' check.
    option("--algorithm",
           type=click.Choice(["itemsvd", "itemsvd-rated", "sasrec", "hybrid", "hybrid-rank"]),
           default="itemsvd", show_default=True, is_eager=True,
           help="itemsvd (numpy, seconds), itemsvd-rated (itemsvd that also reads each "
                "event's rating: a two-input model), sasrec (PyTorch, minutes), hybrid "
                "(SASRec + ItemSVD + EASE in one graph, PyTorch, minutes) or hybrid-rank "
                "(the hybrid as a two-tower version: a query graph, item vectors and a "
                "ranker of the retrieved candidates)."),
    option("--model-dir", default=None, help="Registry root (default STREAMREC_MODEL_DIR)."),
    option("--name", default=None, help="Model name (default: the algorithm's name)."),
    option("--seed", default=0, type=int, show_default=True,
           help="Training seed of sasrec and hybrid (the same seed, the same model)."),
    option("--seeds", default="", callback=lambda ctx, _, value: _seeds(ctx, value),
           help="hybrid and hybrid-rank only: train each of these seeds (comma separated, "
                "e.g. 0,1,2), write the best on validation, and record every seed's figures, "
                "mean and spread in its manifest (training.seeds). Takes as long as that "
                "many trainings."),
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
    try:
        path = await asyncio.to_thread(trainer, algorithm, None)
    except TrainingUnavailable as exc:
        print(f"streamrec: train: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    self.say(f"wrote {path}")


def _seeds(ctx: click.Context, value: str) -> list[int]:
    """``--seeds``, checked while the command line is parsed (a usage error, not a trace)."""
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"not comma-separated integers: {value!r}") from None
    if seeds and ctx.params.get("algorithm") not in ("hybrid", "hybrid-rank"):
        raise click.BadParameter("only with --algorithm hybrid or hybrid-rank")
    return seeds


def _trainer(
    root: Path, name: str, seed: int, seeds: Sequence[int] = ()
) -> Callable[[str, TrainingData | None], Path]:
    """Train an algorithm on ``data`` (default ml-100k) and write the next version of ``name``."""
    from app.training.itemsvd import RATED_WEIGHT, ItemSvdParams
    from app.training.train import train_hybrid, train_itemsvd, train_sasrec

    def run(algorithm: str, data: TrainingData | None) -> Path:
        if algorithm in ("sasrec", "hybrid", "hybrid-rank"):
            try:
                from app.training.sasrec import SasRecParams
            except ModuleNotFoundError as exc:
                if exc.name != "torch":
                    raise
                raise TrainingUnavailable(
                    f"{algorithm} trains with PyTorch, which is not installed: install the "
                    "train extra (pip install -e '.[train]'; make train does)"
                ) from None

            if algorithm == "sasrec":
                return train_sasrec(root, name, SasRecParams(seed=seed), data=data)
            from app.training.hybrid import HYBRID_BLOCKS

            params = SasRecParams(seed=seed, blocks=HYBRID_BLOCKS)
            if algorithm == "hybrid-rank":
                from app.training.train_rank import train_hybrid_rank

                return train_hybrid_rank(root, name, params, data=data, seeds=seeds)
            return train_hybrid(root, name, params, data=data, seeds=seeds)
        weight = RATED_WEIGHT if algorithm == "itemsvd-rated" else 0.0
        return train_itemsvd(root, name, ItemSvdParams(rating_weight=weight), data=data)

    return run


@COMMANDS.command(
    option("--algorithm", default=None,
           type=click.Choice(["itemsvd", "itemsvd-rated", "sasrec", "hybrid"]),
           help="What to train (default: the serving version's algorithm, else itemsvd)."),
    option("--since", default="", help="Read the topic from this time on: unix seconds or "
           "ISO 8601, e.g. 2026-12-01T00:00:00Z (default: its whole retention)."),
    option("--seed", default=0, type=int, show_default=True, help="Training seed."),
    option("--tolerance", default=0.001, type=click.FloatRange(0, 1), show_default=True,
           help="How far below the serving version's test NDCG@10 a new version may be."),
    option("--into-source-tree", is_flag=True,
           help="Write into STREAMREC_MODEL_DIR even when it is a git checkout's committed "
                "model directory (refused without this flag)."),
)  # fmt: skip
async def retrain(
    self: AppCommand,
    algorithm: str | None,
    since: str,
    seed: int,
    tolerance: float,
    into_source_tree: bool,
) -> None:
    """Train the next version of STREAMREC_MODEL_NAME from the input topic into the workers'
    registry (STREAMREC_MODEL_DIR); publish it only if it is not worse offline than the
    serving version on the same held-out events, and print both versions' figures there."""
    from app.errors import OutputInSourceTree, RetrainRefused
    from app.inference.registry import ModelRegistry
    from app.rollout.admin import AdminAuth
    from app.rollout.control import read_rollout_state
    from app.rollout.state import RolloutState
    from app.training.destination import check_destination
    from app.training.retrain import Serving, retrain_from
    from app.training.topic_data import read_interactions

    s = get_settings()
    try:
        check_destination(s.model_dir, into_source_tree=into_source_tree)
    except OutputInSourceTree as exc:
        print(f"streamrec: retrain: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    brokers = Brokers.from_settings(s)
    registry = ModelRegistry(s.model_dir, retrieval=s)
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
    compared: list[Comparison] = []
    try:
        path = await asyncio.to_thread(
            retrain_from, topic, serving, algorithm, _trainer(s.model_dir, s.model_name, seed),
            tolerance, compared=compared.append,
        )  # fmt: skip
    except RetrainRefused as exc:
        _say_lines(self, compared, serving_version)
        print(f"streamrec: retrain: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    except TrainingUnavailable as exc:
        print(f"streamrec: retrain: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    _say_lines(self, compared, serving_version)
    self.say(f"wrote {path}")


def _say_lines(self: AppCommand, compared: list[Comparison], serving: str | None) -> None:
    """The versions' figures on the retrain's held-out events, side by side."""
    from app.training.retrain import comparison_lines

    for comparison in compared:
        for line in comparison_lines(comparison, serving):
            self.say(line)


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


@COMMANDS.command(
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
        from app.cli.dev import need_devtools

        need_devtools("evaluate --stream")
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

        scorer = ModelRegistry(s.model_dir, retrieval=s).load(s.model_name, version)
        rows = await asyncio.to_thread(offline_report, scorer, catalogue())
        seeds = seeds_line(scorer.manifest.training)
    self.say(f"{'model':28} {'HR@10 [95% CI]':>24} {'NDCG@10 [95% CI]':>24} {'MRR@10':>7}  users")
    for r in rows:
        cells = [f"{r[m]:.4f} [{r[m + '_ci'][0]:.3f}, {r[m + '_ci'][1]:.3f}]"
                 for m in ("hr@10", "ndcg@10")]  # fmt: skip
        self.say(f"{r['model']:28} {cells[0]:>24} {cells[1]:>24} {r['mrr@10']:7.4f}  {r['users']}")
    if not stream and seeds:
        self.say(seeds)


@COMMANDS.command(
    option("--name", default=None, help="Model name (default STREAMREC_MODEL_NAME)."),
    option("--version", default=None, help="Model version (default: the newest)."),
    option("--threads", default=0, type=int, show_default=True,
           help="Threads that build the index (0 = all cores)."),
)  # fmt: skip
async def index(self: AppCommand, name: str | None, version: str | None, threads: int) -> None:
    """Prebuild a two-tower version's ANN index into its directory, so that workers read it
    when they load the version instead of building it (minutes for a million items)."""
    from app.errors import StreamrecError
    from app.inference.index_file import prebuild_index
    from app.inference.registry import ModelRegistry

    s = get_settings()
    name = name or s.model_name
    try:
        version = version or ModelRegistry(s.model_dir).newest(name)
        settings = s.model_copy(update={"retrieval_build_threads": threads})
        report = await asyncio.to_thread(prebuild_index, s.model_dir / name / version, settings)
    except StreamrecError as exc:
        print(f"streamrec: index: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    knob = (f"STREAMREC_RETRIEVAL_PROBES={s.retrieval_probes}" if report.kind == "ivf" else
            f"STREAMREC_RETRIEVAL_EXPANSION_SEARCH={s.retrieval_expansion_search}")  # fmt: skip
    self.say(f"{name}/{version}: indexed {report.items:,} items of {report.dims} dims in "
             f"{report.build_s:.1f} s; wrote {report.path} ({report.size_bytes / 2**20:.1f} MiB) "
             f"and recorded it in the manifest (retrieval.index_file)")  # fmt: skip
    self.say(f"recall@10 of the index's own top 10 against exact, {min(report.items, 500)} "
             f"item vectors as queries: {report.recall_at_10:.3f}; as many means of two "
             f"items' vectors (users of two tastes): {report.recall_two_tastes:.3f}; at {knob} "
             f"(serving re-scores the top k + seen items exactly: at least this)")  # fmt: skip
