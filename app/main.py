"""The one place that wires streamrec: the Faust app, its topics, tables, agent and views.

Nothing happens on import: ``build(settings)`` wires a worker's app, and ``app.app`` (what
``faust -A app`` looks up) calls ``load_app()`` the first time it is read.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn

import aiohttp
import faust
from prometheus_client import CollectorRegistry

from app.cli.commands import register_commands
from app.errors import CannotStart, InvalidSettings
from app.features.state import UserFeatureState
from app.http.context import HttpContext
from app.http.guard import guard
from app.http.operator_state import RecentRates
from app.http.routes import register_routes
from app.inference.batcher import rank_states
from app.inference.cache import PredictionCache
from app.inference.cold_start import ColdStart
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.kafka.brokers import Brokers
from app.kafka.follow import follow_topic
from app.kafka.partitioners import KeyPartitioner
from app.kafka.producer import BatchSender
from app.kafka.topics import ensure_topics
from app.metrics import AppMetrics
from app.pipeline.arms import ArmRanker, Ranker
from app.pipeline.core import BatchConfig, BatchCore
from app.pipeline.routing import KeyRouting
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout
from app.rollout.auto import AutoRollout
from app.rollout.control import ControlListener, ModelCommand
from app.rollout.state import RolloutState
from app.settings import Settings, get_settings
from app.sinks import (
    RedisLatestSink,
    Sink,
    TopicSink,
    by_item,
    dead_letters,
    moved,
    moved_timestamps,
    outputs,
    shadows,
)
from app.trending import TrendingBoard, TrendingConfig, TrendingCounter, counts_table
from app.worker.agent import RecommendAgent, TableStore
from app.worker.batching import BatchPolicy, take_batches
from app.worker.codecs import StructCodec
from app.worker.faust_compat import (
    BulkInput,
    TunedApp,
    estimated_keys,
    raw_key_table,
    tables_recovered,
)
from app.worker.latest_table import LatestTableSink
from app.worker.preflight import prepare_worker
from app.worker.progress import ProgressMonitor
from app.worker.shutdown import Shutdown

__all__ = ["Streamrec", "build", "create_app", "load_app"]

logger = logging.getLogger(__name__)


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
        _exit(exc, "invalid settings", 2)
    try:
        return create_app(settings)
    except CannotStart as exc:
        _exit(exc, "start-up check failed", 1)


def create_app(settings: Settings) -> faust.App:
    """The Faust app of a streamrec worker; streamrec's commands join Faust's CLI."""
    return build(settings).app


def _exit(exc: InvalidSettings | CannotStart, what: str, code: int) -> NoReturn:
    problems = exc.problems if isinstance(exc, InvalidSettings) else [str(exc)]
    print(f"streamrec: cannot start: {what}:", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    raise SystemExit(code)


def _worker_class(settings: Settings, shutdown: Shutdown) -> type[faust.Worker]:
    """``faust -A app worker``'s Worker: checks what the worker needs before Faust starts,
    and stops within SHUTDOWN_TIMEOUT_S of a stop signal (``app.worker.shutdown``)."""

    class StreamrecWorker(faust.Worker):  # type: ignore[misc]  # faust's Worker is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                prepare_worker(settings)
            except CannotStart as exc:
                _exit(exc, "start-up check failed", 1)
            super().__init__(*args, **kwargs)

        def _on_sigterm(self) -> None:
            shutdown.begin()
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            shutdown.begin()
            super()._on_sigint()

    return StreamrecWorker


def build(
    settings: Settings,
    *,
    rank: Ranker | None = None,
    batches: Callable[[BatchPolicy], BatchPolicy] | None = None,
) -> Streamrec:
    """Wire every part of a worker for ``settings`` (Faust patches included).

    ``rank`` replaces how rows are ranked, ``batches`` wraps how micro-batches are gathered
    (the tests inject faults through them).
    """
    shutdown = Shutdown(settings.shutdown_timeout_s)
    brokers = Brokers.from_settings(settings)
    partitioner = KeyPartitioner(settings.key_partitioner)
    app = TunedApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=settings.broker,
        broker_credentials=brokers.security.faust_credentials(),
        store=settings.store,
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        topic_partitions=settings.partitions,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        # Keys are the raw UTF-8 user id everywhere (topics, tables, router), so the partition
        # a producer picks, the partition holding the state and the worker a view routes to
        # agree.
        key_serializer="raw",
        value_serializer="raw",
        # The router (views, OIP forwarding) finds a user's worker with the producers' one.
        producer_partitioner=partitioner,
        processing_guarantee="at_least_once",
        table_standby_replicas=1,
        autodiscover=False,
        web_in_thread=False,
        # Every request passes the guard (JSON errors, size limits); aiohttp enforces the
        # body limit itself while reading. Forwarded requests give up after FORWARD_TIMEOUT_S.
        web_application_options={
            "client_max_size": settings.max_request_bytes,
            "middlewares": [guard(settings.max_request_bytes, settings.max_path_segment_bytes)],
        },
        HttpClient=functools.partial(
            aiohttp.ClientSession, timeout=aiohttp.ClientTimeout(total=settings.forward_timeout_s)
        ),
        Worker=_worker_class(settings, shutdown),
    )
    input_topic = app.topic(
        settings.input_topic, key_type=bytes, value_type=bytes, internal=True,
        partitions=settings.partitions,
    )  # fmt: skip
    features: faust.Table[str, UserFeatureState] = raw_key_table(
        app, "features", settings.partitions, StructCodec(UserFeatureState),
        "Per-user feature state (the model's input).", settings.store_options,
    )  # fmt: skip
    latest: faust.Table[str, bytes] = raw_key_table(
        app, "latest", settings.partitions, "raw",
        "Each user's latest recommendation update (the output JSON).", settings.store_options,
    )  # fmt: skip

    metrics_registry = CollectorRegistry()
    metrics = AppMetrics.create(metrics_registry)
    model_registry = ModelRegistry(settings.model_dir)
    model = ServedModel(
        model_registry,
        settings.model_name,
        metrics,
        version=settings.model_version,
        threads=settings.onnx_threads,
    )
    rollout = Rollout(
        model,
        model_registry,
        metrics,
        canary=settings.canary_split,
        shadow=settings.shadow,
        threads=settings.onnx_threads,
    )
    # Dead letters carry the input's bytes unchanged, whatever size the input topic accepted;
    # the broker's own message size limit is what bounds them.
    sender = BatchSender(brokers, partitioner, max_request_bytes=32 << 20)
    cache = PredictionCache(
        settings.cache_url, settings.cache_ttl_s, settings.cache_timeout_s, metrics
    )
    if rank is None:
        rank = cache.rank_each if settings.cache_in_stream else rank_states
    board = TrendingBoard(TrendingConfig.from_settings(settings), settings.partitions)
    # Users the model cannot read get what trends now (TRENDING off: the model's prior).
    cold_start = ColdStart(board.items if settings.trending else None)
    core = BatchCore(
        BatchConfig.from_settings(settings),
        ArmRanker(rank, settings.top_k, cold_start=cold_start),
        routing=KeyRouting(partitioner, settings.partitions),
    )
    # Room for a few batches' worth of fetched records (Faust's per-partition stream buffer
    # is the same size); the fetch loop waits while it is full.
    bulk = BulkInput(app, settings.input_topic, max(4 * settings.max_batch, 4096))
    policy = take_batches(settings.max_batch, settings.max_wait_ms / 1000, ack=False)
    agent = RecommendAgent(
        settings, core, TableStore(features),
        _sinks(settings, sender, metrics, LatestTableSink(latest)),
        rollout, metrics, sender, cache,
        bulk, batches(policy) if batches else policy,
    )  # fmt: skip
    shutdown.on_stop(agent.request_stop)
    app.agent(input_topic, name="recommend")(agent.run)  # type: ignore[arg-type]
    if settings.trending:
        _count_trending(app, settings, board, metrics)
    progress = ProgressMonitor(app, settings.input_topic, metrics)

    async def sample_progress() -> None:
        recovering = not tables_recovered(app)
        progress.sample(busy_elsewhere=app.rebalancing or recovering or not model.ready)

    app.timer(1.0, name="streamrec.progress")(sample_progress)

    async def sample_tables() -> None:
        for table in (features, latest):
            metrics.table_keys.labels(table.name).set(estimated_keys(table))

    app.timer(10.0, name="streamrec.tables")(sample_tables)

    async def poll_models() -> None:
        await rollout.poll()

    if settings.model_poll_s > 0:
        app.timer(settings.model_poll_s, name="streamrec.model_poll")(poll_models)

    async def on_command(command: ModelCommand, state: RolloutState) -> None:
        if command.action == "rollback":
            await model.rollback()
        else:  # reload (serve the wanted main version again) or a rollout change
            await rollout.apply(state, reload=command.action == "reload")

    auth = AdminAuth(settings.admin_secret, settings.control_max_age_s)
    control = ControlListener(
        brokers, settings.control_topic, on_command, auth,
        rejected=lambda reason: metrics.admin_denied.labels("control", reason).inc(),
        model=model.name, state=rollout.state, on_state=rollout.apply,
    )  # fmt: skip

    async def listen_for_model_commands() -> None:
        try:
            # Kept for ever: its rollout commands are the deployment's rollout state.
            await ensure_topics(brokers, [settings.control_topic], 1, {"retention.ms": "-1"})
        except Exception as exc:  # the broker may forbid creating topics: say so, keep serving
            logger.error("cannot create topic %s (create it by hand): %s",
                         settings.control_topic, exc)  # fmt: skip
        await control.run()

    app.task(listen_for_model_commands)

    if settings.auto_rollout:
        auto = AutoRollout(app, settings, brokers, rollout, metrics_registry, auth)
        rollout.auto = True
        rollout.controller_view = lambda: auto.last

        async def read_rollout_evidence() -> None:
            try:
                day = str(24 * 3600 * 1000)
                await ensure_topics(brokers, [settings.evidence_topic], 1, {"retention.ms": day})
            except Exception as exc:  # as for the control topic: say so, keep serving
                logger.error("cannot create topic %s (create it by hand): %s",
                             settings.evidence_topic, exc)  # fmt: skip
            await auto.read_evidence()

        async def automatic_rollout() -> None:
            try:
                await auto.report()
                await auto.control()
            except Exception as exc:  # a broker hiccup: the next look tries again
                logger.error("automatic rollout: %s", exc)

        app.task(read_rollout_evidence)
        app.timer(settings.auto_check_s, name="streamrec.auto_rollout")(automatic_rollout)

    ranker = OnlineRanker(model, cache, settings.max_batch, cold_start)
    rates = RecentRates(metrics_registry)  # the operator page's rates
    app.timer(1.0, name="streamrec.page_rates")(_async(rates.sample))
    register_routes(HttpContext(
        app=app, features=features, latest=latest, rollout=rollout, ranker=ranker,
        agent=agent, progress=progress, registry=metrics_registry, metrics=metrics, auth=auth,
        board=board, rates=rates, app_id=settings.app_id, default_k=settings.top_k,
        stall_timeout_s=settings.stall_timeout_s, output_topic=settings.output_topic,
        shadow_topic=settings.shadow_topic, trending=settings.trending,
    ))  # fmt: skip
    register_commands()
    _tune_gc()
    return Streamrec(app, settings, features, latest, agent, model, rollout, metrics)


def _async(sample: Callable[[], None]) -> Callable[[], Coroutine[Any, Any, None]]:
    async def run() -> None:
        sample()

    return run


def _count_trending(
    app: faust.App, settings: Settings, board: TrendingBoard, metrics: AppMetrics
) -> None:
    """The trending agent on the by-item topic, its publishing timer, the reports' reader."""
    by_item_topic = app.topic(
        settings.by_item_topic, key_type=bytes, value_type=bytes, internal=True,
        partitions=settings.partitions,
    )  # fmt: skip
    # Its records come in bulk too: through Faust's per-record stream they cost more than the
    # counting, and its full stream buffer stalled the fetch loop the input shares.
    bulk = BulkInput(app, settings.by_item_topic, max(4 * settings.max_batch, 4096))
    batches = take_batches(settings.max_batch, settings.max_wait_ms / 1000)
    counter = TrendingCounter(
        app, settings, counts_table(app, settings), board, metrics, bulk, batches
    )
    app.agent(by_item_topic, name="trending")(counter.run)  # type: ignore[arg-type]

    async def publish_trending() -> None:
        try:
            await counter.publish()
        except Exception as exc:  # a broker hiccup: the next one publishes again
            logger.warning("trending: cannot publish: %s", exc)

    app.timer(settings.trending_publish_s, name="streamrec.trending")(publish_trending)

    async def read_trending() -> None:
        try:
            hour = str(3600 * 1000)
            await ensure_topics(Brokers.from_settings(settings), [settings.trending_topic], 1,
                                {"retention.ms": hour})  # fmt: skip
        except Exception as exc:  # as for the control topic: say so, keep serving
            logger.error("cannot create topic %s (create it by hand): %s",
                         settings.trending_topic, exc)  # fmt: skip
        await follow_topic(Brokers.from_settings(settings), settings.trending_topic, board.take)

    app.task(read_trending)


def _sinks(
    settings: Settings, sender: BatchSender, metrics: AppMetrics, latest: LatestTableSink
) -> list[Sink]:
    """Where each batch result goes: the topics, the latest table, optional serving stores."""
    s = settings
    sinks: list[Sink] = [
        TopicSink("recommendations", s.output_topic, outputs, sender, metrics),
        TopicSink("dlq", s.dlq_topic, dead_letters, sender, metrics),
        # Records on the wrong partition, to their own (kept timestamps: latency stays honest).
        TopicSink("moved", s.input_topic, moved, sender, metrics, timestamps=moved_timestamps),
        # The worker creates the shadow topic (before the first batch, which writes to it).
        TopicSink(
            "shadow", s.shadow_topic, shadows, sender, metrics,
            create_partitions=s.partitions if s.shadow else 0,
        ),
        latest,
    ]  # fmt: skip
    if s.trending:
        sinks.append(TopicSink("by_item", s.by_item_topic, by_item, sender, metrics))
    if s.redis_sink_url:
        sinks.append(
            RedisLatestSink(
                s.redis_sink_url,
                prefix=s.redis_sink_prefix,
                ttl_s=s.redis_sink_ttl_s,
                timeout_s=s.redis_sink_timeout_s,
                required=s.redis_sink_required,
            )
        )
    return sinks


def _tune_gc() -> None:
    """Freeze what import and wiring created out of garbage collection, collect less often.

    GC pauses were the latency tail: a worker allocates hundreds of thousands of short-lived
    objects per second, and each full collection walked everything import created (Faust,
    numpy, onnxruntime bindings). Measured at 4,400 events/s: p99 63-76 ms before, 28 ms after.
    """
    gc.set_threshold(10_000, 50, 1_000)
    gc.freeze()
