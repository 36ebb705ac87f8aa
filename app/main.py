"""The one place that wires streamrec: ``build(settings)`` in a few named steps.

The worker (Faust app, tables, the recommend agent and its timers), the models and their
rollout, trending, and the web edge each come from one step below; every part is built whole
(nothing is attached to an object after it is made). Nothing happens on import: ``app.app``
(what ``faust -A app`` looks up) calls ``load_app()`` the first time it is read.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import faust
from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector

from app.cli.commands import register_commands
from app.errors import CannotStart, InvalidSettings
from app.features.state import UserFeatureState
from app.grpc.server import add_grpc_server
from app.http.context import HttpContext
from app.http.operator_state import RecentRates
from app.http.routes import register_routes
from app.http.tls import WebTls, web_tls
from app.inference.api_models import ApiModel, ApiModels
from app.inference.batcher import rank_states
from app.inference.cache import PredictionCache
from app.inference.cold_start import ColdStart
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.kafka.producer import BatchSender
from app.metrics import AppMetrics
from app.pipeline.arms import ArmRanker, Ranker
from app.pipeline.core import BatchConfig, BatchCore
from app.pipeline.degrade import caught_up
from app.pipeline.routing import KeyRouting
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout
from app.rollout.auto import AutoRollout
from app.rollout.tasks import add_rollout_tasks
from app.settings import Settings, get_settings
from app.sinks.configured import configured_sinks
from app.trending.board import TrendingBoard
from app.trending.tasks import add_trending
from app.trending.windows import TrendingConfig
from app.worker.agent import RecommendAgent, TableStore
from app.worker.batching import BatchPolicy, take_batches
from app.worker.broker_watch import BrokerWatch
from app.worker.codecs import StructCodec
from app.worker.faust_app import CHANGELOG_COMPRESSION, cannot_start, create_faust_app
from app.worker.faust_compat import BulkInput, tables_recovered
from app.worker.features_changelog import FeaturesChangelog
from app.worker.health_state import WorkerHealth
from app.worker.latest_table import LatestTable
from app.worker.progress import ProgressMonitor
from app.worker.shutdown import Shutdown
from app.worker.tables import WorkerTables, create_tables

__all__ = ["Streamrec", "build", "create_app", "load_app"]


@dataclass(frozen=True)
class Streamrec:
    """A wired worker: the Faust app and the parts tests and commands reach for."""

    app: faust.App
    settings: Settings
    features: faust.Table[str, UserFeatureState]
    latest: faust.Table[str, bytes]
    agent: RecommendAgent
    model: ServedModel
    rollout: Rollout
    metrics: AppMetrics


def load_app() -> faust.App:
    """``create_app`` from the environment. A bad setting ends the process with one line per
    problem (exit code 2), untested Faust or aiokafka versions with their names (exit code 1),
    instead of a traceback."""
    try:
        settings = get_settings()
    except InvalidSettings as exc:
        cannot_start(exc, "invalid settings", 2)
    try:
        return create_app(settings)
    except CannotStart as exc:
        cannot_start(exc, "start-up check failed", 1)


def create_app(settings: Settings) -> faust.App:
    """The Faust app of a streamrec worker; streamrec's commands join Faust's CLI."""
    return build(settings).app


@dataclass(frozen=True)
class _Serving:
    """The models a worker serves, and what scores with them outside the stream."""

    rollout: Rollout
    cache: PredictionCache
    cold_start: ColdStart
    board: TrendingBoard


def build(
    settings: Settings,
    *,
    rank: Ranker | None = None,
    batches: Callable[[BatchPolicy], BatchPolicy] | None = None,
) -> Streamrec:
    """Wire every part of a worker for ``settings``.

    ``rank`` replaces how rows are ranked, ``batches`` wraps how micro-batches are gathered
    (the tests inject faults through them).
    """
    shutdown = Shutdown(settings.shutdown_timeout_s)
    brokers = Brokers.from_settings(settings)
    partitioner = KeyPartitioner(settings.key_partitioner)
    tls = web_tls(settings)
    app = create_faust_app(settings, brokers, partitioner, shutdown, tls)
    tables = create_tables(app, settings)
    samples = CollectorRegistry()
    # The client's standard process_* and python_gc_* series: CPU, memory, open files and
    # collections per generation (a gen-2 collection stalls the event loop).
    ProcessCollector(registry=samples)
    GCCollector(registry=samples)
    metrics = AppMetrics.create(samples)
    health = WorkerHealth(metrics)
    serving = _serving(settings, metrics)
    agent = _recommend_agent(
        app, settings, tables, serving, metrics, brokers, partitioner, health, rank, batches
    )
    shutdown.on_stop(agent.request_stop)
    progress = _worker_timers(app, settings, tables, agent, metrics)
    app.task(BrokerWatch(brokers, settings.input_topic, health).run)
    auth = AdminAuth(settings.admin_secret, settings.control_max_age_s)
    auto = add_rollout_tasks(app, settings, brokers, serving.rollout, samples, metrics, auth)
    if settings.trending:
        add_trending(app, settings, brokers, serving.board, metrics)
    _web(app, settings, tables, serving, agent, progress, health, samples, metrics, auth, auto,
         tls)  # fmt: skip
    register_commands()
    _tune_gc()
    return Streamrec(
        app, settings, tables.features, tables.latest, agent, serving.rollout.main,
        serving.rollout, metrics,
    )  # fmt: skip


def _serving(settings: Settings, metrics: AppMetrics) -> _Serving:
    """The main model and its rollout arms, the prediction cache, and the cold start."""
    registry = ModelRegistry(settings.model_dir, retrieval=settings)
    model = ServedModel(
        registry, settings.model_name, metrics,
        version=settings.model_version, threads=settings.onnx_threads,
    )  # fmt: skip
    rollout = Rollout(
        model, registry, metrics,
        canary=settings.canary_split, shadow=settings.shadow, threads=settings.onnx_threads,
        auto=settings.auto_rollout,
    )  # fmt: skip
    cache = PredictionCache(
        settings.cache_url, settings.cache_ttl_s, settings.cache_timeout_s, metrics
    )
    board = TrendingBoard(TrendingConfig.from_settings(settings), settings.partitions)
    # Users the model cannot read get what trends now (TRENDING off: the model's prior).
    cold_start = ColdStart(board.items if settings.trending else None)
    return _Serving(rollout, cache, cold_start, board)


def _recommend_agent(
    app: faust.App,
    settings: Settings,
    tables: WorkerTables,
    serving: _Serving,
    metrics: AppMetrics,
    brokers: Brokers,
    partitioner: KeyPartitioner,
    health: WorkerHealth,
    rank: Ranker | None,
    batches: Callable[[BatchPolicy], BatchPolicy] | None,
) -> RecommendAgent:
    """The agent "recommend" on the input topic: bulk input, batch core, sinks."""
    if rank is None:
        cache = serving.cache
        rank = cache.rank_each if settings.cache_in_stream else rank_states
    codec = StructCodec(UserFeatureState)
    # STATE_CHANGELOG=updates: each user's state rides on the user's last update of a batch
    # (the output topic restores the features table too: ``user_states``); =topic: on the
    # features changelog, a record of its own.
    in_updates = settings.state_changelog == "updates"
    core = BatchCore(
        BatchConfig.from_settings(settings),
        ArmRanker(rank, settings.top_k, cold_start=serving.cold_start),
        routing=KeyRouting(partitioner, settings.partitions),
        state_header=codec.dumps if in_updates else None,
    )
    # Room for a few batches' worth of fetched records (Faust's per-partition stream buffer
    # is the same size); the fetch loop waits while it is full.
    bulk = BulkInput(app, settings.input_topic, max(4 * settings.max_batch, 4096))
    policy = take_batches(settings.max_batch, settings.max_wait_ms / 1000, ack=False)
    # Dead letters carry the input's bytes unchanged, whatever size the input topic accepted;
    # the broker's own message size limit is what bounds them.
    sender = BatchSender(
        brokers, partitioner, max_request_bytes=32 << 20,
        compression_type=settings.producer_compression,
    )  # fmt: skip
    sinks = configured_sinks(settings, sender, metrics, LatestTable(tables.latest).keep)
    if not in_updates:
        changelogs = BatchSender(
            brokers, partitioner, max_request_bytes=1 << 20,
            compression_type=CHANGELOG_COMPRESSION,
        )  # fmt: skip
        sinks.append(FeaturesChangelog(tables.features, codec, changelogs, metrics))
    agent = RecommendAgent(
        settings, core, TableStore(tables.features), sinks, serving.rollout, metrics, sender,
        serving.cache, bulk, batches(policy) if batches else policy, health,
    )  # fmt: skip
    input_topic = app.topic(
        settings.input_topic, key_type=bytes, value_type=bytes, internal=True,
        partitions=settings.partitions,
    )  # fmt: skip
    app.agent(input_topic, name="recommend")(agent.run)  # type: ignore[arg-type]
    return agent


def _worker_timers(
    app: faust.App,
    settings: Settings,
    tables: WorkerTables,
    agent: RecommendAgent,
    metrics: AppMetrics,
) -> ProgressMonitor:
    """Once a second the consumer's progress (lag, commits), and the end of a degradation
    once it has caught up; every 10 s the tables' sizes."""
    progress = ProgressMonitor(app, settings.input_topic, metrics)
    degradation = agent.core.degradation

    async def sample_progress() -> None:
        recovering = not tables_recovered(app)
        progress.sample(busy_elsewhere=app.rebalancing or recovering or not agent.model.ready)
        if degradation.idle(caught_up(progress.lag, progress.owned())):
            metrics.degraded.set(0)

    async def sample_tables() -> None:
        tables.sample_keys(metrics)

    app.timer(1.0, name="streamrec.progress")(sample_progress)
    app.timer(10.0, name="streamrec.tables")(sample_tables)
    return progress


def _web(
    app: faust.App,
    settings: Settings,
    tables: WorkerTables,
    serving: _Serving,
    agent: RecommendAgent,
    progress: ProgressMonitor,
    health: WorkerHealth,
    samples: CollectorRegistry,
    metrics: AppMetrics,
    auth: AdminAuth,
    auto: AutoRollout | None,
    tls: WebTls,
) -> None:
    """Every view (``app.http.routes``) over one context, and the operator page's rates."""
    ranker = OnlineRanker(serving.rollout.main, serving.cache, settings.max_batch,
                          serving.cold_start)  # fmt: skip
    models = ApiModels(
        ApiModel(serving.rollout.main, ranker), serving.rollout.registry, serving.cache, metrics,
        held=settings.api_models, max_batch=settings.max_batch, cold_start=serving.cold_start,
    )  # fmt: skip
    rates = RecentRates(samples)

    async def sample_rates() -> None:
        rates.sample()

    app.timer(1.0, name="streamrec.page_rates")(sample_rates)
    ctx = HttpContext(
        app=app, features=tables.features, latest=tables.latest, rollout=serving.rollout,
        ranker=ranker, models=models, agent=agent, progress=progress, health=health,
        registry=samples, metrics=metrics, auth=auth, board=serving.board, rates=rates,
        app_id=settings.app_id, default_k=settings.top_k,
        stall_timeout_s=settings.stall_timeout_s, output_topic=settings.output_topic,
        shadow_topic=settings.shadow_topic, trending=settings.trending, auto=auto,
    )  # fmt: skip
    register_routes(ctx)
    if tls.on:

        async def reload_certificate() -> None:
            tls.reload()

        app.timer(settings.web_tls_reload_s, name="streamrec.web_tls")(reload_certificate)
    if settings.grpc_port:
        add_grpc_server(app, ctx, tls, settings.web_bind, settings.grpc_port,
                        settings.max_request_bytes)  # fmt: skip


def _tune_gc() -> None:
    """Freeze what import and wiring created out of garbage collection, collect less often.

    GC pauses were the latency tail: a worker allocates hundreds of thousands of short-lived
    objects per second, and each full collection walked everything import created (Faust,
    numpy, onnxruntime bindings). Measured at 4,400 events/s: p99 63-76 ms before, 28 ms after.
    """
    gc.set_threshold(10_000, 50, 1_000)
    gc.freeze()
