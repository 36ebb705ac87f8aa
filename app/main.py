"""The one place that wires streamrec: the Faust app, its topics, tables, agent and views."""

from __future__ import annotations

import gc
import logging
from typing import Any, cast

import faust
from faust.types.codecs import CodecArg
from prometheus_client import CollectorRegistry

from app.agents import RecommendPipeline
from app.codecs import StructCodec
from app.consumer_tuning import tune_consumer
from app.control import ControlListener, ModelCommand
from app.emit import BatchSender
from app.features import UserFeatureState
from app.inference.cache import PredictionCache
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.rollout import Rollout
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from app.oip import register_oip
from app.progress import ProgressMonitor
from app.settings import get_settings
from app.table_stats import estimated_keys
from app.topics import ensure_topics
from app.views import readiness, register_views

__all__ = ["app", "features", "latest", "pipeline"]

logger = logging.getLogger(__name__)

settings = get_settings()
tune_consumer(settings.fetch_max_wait_ms)

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    store=settings.store,
    datadir=str(settings.data_dir),
    web_host=settings.web_host,
    web_bind=settings.web_bind,
    web_port=settings.web_port,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",
    topic_partitions=settings.partitions,
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    # Keys are the raw UTF-8 user id everywhere (topics, tables, router), so the partition a
    # producer picks, the partition holding the state and the worker a view routes to agree.
    key_serializer="raw",
    value_serializer="raw",
    processing_guarantee="at_least_once",
    table_standby_replicas=1,
    autodiscover=False,
    web_in_thread=False,
)

input_topic = app.topic(
    settings.input_topic, key_type=bytes, value_type=bytes, internal=True,
    partitions=settings.partitions,
)  # fmt: skip


def _table(name: str, value_serializer: CodecArg, help: str) -> faust.Table[str, Any]:
    """A table keyed by the raw UTF-8 user id, like the input topic.

    Faust derives a table's serializers from its key/value *types* (json for ``str``), which
    would key the changelog, the store and the view router by ``b'"42"'`` while producers
    key by ``b"42"``: views would route to the wrong worker. ``app.Table`` registers the
    table (creating its changelog topic with those serializers) at once, so the table is
    built here, given its serializers, and only then registered.
    """
    table: faust.Table[str, Any] = faust.Table(
        app,
        name=name,
        key_type=str,
        partitions=settings.partitions,
        help=help,
        beacon=app.tables.beacon,
    )
    table.key_serializer = "raw"
    table.value_serializer = value_serializer
    app.tables.add(table)
    return table


features: faust.Table[str, UserFeatureState] = _table(
    "features", StructCodec(UserFeatureState), "Per-user feature state (the model's input)."
)
latest: faust.Table[str, bytes] = _table(
    "latest", "raw", "Each user's latest recommendation update (the output JSON)."
)

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
sender = BatchSender(settings.bootstrap_servers, max_request_bytes=32 << 20)
cache = PredictionCache(settings.cache_url, settings.cache_ttl_s, settings.cache_timeout_s, metrics)
pipeline = RecommendPipeline(settings, features, latest, rollout, metrics, sender, cache)
app.agent(input_topic, name="recommend")(pipeline.run)  # type: ignore[arg-type]
progress = ProgressMonitor(app, settings.input_topic, metrics)


async def _sample_progress() -> None:
    recovering = not cast(Any, app.tables).recovery.completed.is_set()
    progress.sample(busy_elsewhere=app.rebalancing or recovering or not model.ready)


app.timer(1.0, name="streamrec.progress")(_sample_progress)


async def _sample_tables() -> None:
    for table in (features, latest):
        metrics.table_keys.labels(table.name).set(estimated_keys(table))


app.timer(10.0, name="streamrec.tables")(_sample_tables)


async def _poll_models() -> None:
    await rollout.poll()


if settings.model_poll_s > 0:
    app.timer(settings.model_poll_s, name="streamrec.model_poll")(_poll_models)


async def _on_command(command: ModelCommand) -> None:
    if command.model != model.name:
        logger.info("control topic: %s is not served here (%s is)", command.model, model.name)
        return
    await (model.reload if command.action == "reload" else model.rollback)()


control = ControlListener(settings.bootstrap_servers, settings.control_topic, _on_command)


async def _listen_for_model_commands() -> None:
    try:
        await ensure_topics(settings.bootstrap_servers, [settings.control_topic], 1)
        if settings.shadow:
            await ensure_topics(
                settings.bootstrap_servers, [settings.shadow_topic], settings.partitions
            )
    except Exception as exc:  # the broker may forbid creating topics: say so, keep serving
        logger.error("cannot create topics %s / %s (create them by hand): %s",
                     settings.control_topic, settings.shadow_topic, exc)  # fmt: skip
    await control.run()


app.task(_listen_for_model_commands)


register_views(
    app, features, latest, rollout, metrics_registry, pipeline, progress,
    settings.stall_timeout_s, settings.output_topic, settings.shadow_topic,
)  # fmt: skip
ranker = OnlineRanker(model, cache, settings.max_batch)
register_oip(app, features, model, ranker, settings.top_k, lambda: readiness(app, model)["ready"])

# Commands register on import; they only import their heavy parts when run.
from app import commands  # noqa: E402,F401

# Garbage collection pauses were the latency tail: a worker allocates hundreds of thousands of
# short-lived objects per second, and each full collection walked everything import created
# (Faust, numpy, onnxruntime bindings). Those are frozen out of collections, and collections
# run less often. Measured at 4,400 events/s: p99 63-76 ms before, 28 ms after.
gc.set_threshold(10_000, 50, 1_000)
gc.freeze()
