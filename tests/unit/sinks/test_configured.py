"""The sinks the settings ask for, in delivery order."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.kafka.producer import BatchSender
from app.metrics import AppMetrics
from app.settings import Settings
from app.sinks.configured import configured_sinks


def keep_latest(result: object, sent: object) -> None:
    """Stands for ``LatestTable.keep``."""


def sinks_for(**settings: object) -> list[tuple[str, str | None]]:
    s = Settings(**settings)  # type: ignore[arg-type]
    sender = BatchSender(
        Brokers.from_settings(s), KeyPartitioner(s.key_partitioner), max_request_bytes=1 << 20
    )
    sinks = configured_sinks(s, sender, AppMetrics.create(CollectorRegistry()), keep_latest)
    return [(sink.name, getattr(sink, "topic", None)) for sink in sinks]


def test_the_default_sinks_are_the_topics() -> None:
    assert sinks_for(app_id="a", input_topic="in") == [
        ("recommendations", "recommendations"), ("dlq", "interactions.dlq"),
        ("moved", "in"), ("shadow", "recommendations.shadow"),
    ]  # fmt: skip


def test_the_latest_table_is_kept_by_the_recommendations_sink_alone() -> None:
    s = Settings(app_id="a", input_topic="in", trending=True)
    sender = BatchSender(
        Brokers.from_settings(s), KeyPartitioner(s.key_partitioner), max_request_bytes=1 << 20
    )
    sinks = configured_sinks(s, sender, AppMetrics.create(CollectorRegistry()), keep_latest)
    keeping = [sink.name for sink in sinks if getattr(sink, "then", None) is keep_latest]
    assert keeping == ["recommendations"]


def test_trending_and_redis_add_their_sinks() -> None:
    names = [name for name, _ in sinks_for(trending=True, redis_sink_url="redis://h:6379/0")]
    assert names[-2:] == ["by_item", "redis"]
