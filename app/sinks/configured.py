"""The sinks a worker's settings ask for, in delivery order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiokafka.structs import RecordMetadata

from app.kafka.producer import BatchSender
from app.metrics import AppMetrics
from app.pipeline.result import BatchResult
from app.settings import Settings
from app.sinks.base import Sink
from app.sinks.redis_store import RedisLatestSink
from app.sinks.topics import (
    TopicSink,
    by_item,
    dead_letters,
    moved,
    moved_timestamps,
    outputs,
    shadows,
)

__all__ = ["KeepLatest", "configured_sinks"]

KeepLatest = Callable[[BatchResult, Sequence[RecordMetadata | None]], None]


def configured_sinks(
    settings: Settings, sender: BatchSender, metrics: AppMetrics, latest: KeepLatest
) -> list[Sink]:
    """Where each batch result goes: the topics, optional serving stores. ``latest`` keeps
    the latest table once the recommendations are on the broker (the table's changelog)."""
    s = settings
    sinks: list[Sink] = [
        TopicSink("recommendations", s.output_topic, outputs, sender, metrics, then=latest),
        TopicSink("dlq", s.dlq_topic, dead_letters, sender, metrics),
        # Records on the wrong partition, to their own (kept timestamps: latency stays honest).
        TopicSink("moved", s.input_topic, moved, sender, metrics, timestamps=moved_timestamps),
        # The worker creates the shadow topic (before the first batch, which writes to it).
        TopicSink(
            "shadow", s.shadow_topic, shadows, sender, metrics,
            create_partitions=s.partitions if s.shadow else 0,
        ),
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
