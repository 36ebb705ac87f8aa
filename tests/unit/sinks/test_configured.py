"""The sinks the settings ask for, in delivery order."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.kafka.producer import BatchSender
from app.metrics import AppMetrics
from app.settings import Settings
from app.sinks.configured import configured_sinks


class LatestSink:
    name, required = "latest", True


def sinks_for(**settings: object) -> list[tuple[str, str | None]]:
    s = Settings(**settings)  # type: ignore[arg-type]
    sender = BatchSender(
        Brokers.from_settings(s), KeyPartitioner(s.key_partitioner), max_request_bytes=1 << 20
    )
    latest = LatestSink()
    sinks = configured_sinks(s, sender, AppMetrics.create(CollectorRegistry()), latest)  # type: ignore[arg-type]
    return [(sink.name, getattr(sink, "topic", None)) for sink in sinks]


def test_the_default_sinks_are_the_topics_then_the_latest_table() -> None:
    assert sinks_for(app_id="a", input_topic="in") == [
        ("recommendations", "recommendations"), ("dlq", "interactions.dlq"),
        ("moved", "in"), ("shadow", "recommendations.shadow"), ("latest", None),
    ]  # fmt: skip


def test_trending_and_redis_add_their_sinks() -> None:
    names = [name for name, _ in sinks_for(trending=True, redis_sink_url="redis://h:6379/0")]
    assert names[-2:] == ["by_item", "redis"]
