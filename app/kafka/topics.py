"""Create streamrec's topics from outside a worker (replay, tests), with the worker's layout."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from app.kafka.brokers import Brokers

__all__ = ["ensure_topic_or_say", "ensure_topics", "partition_counts", "topic_config"]

logger = logging.getLogger(__name__)


async def ensure_topics(
    brokers: Brokers, names: list[str], partitions: int, config: dict[str, str] | None = None
) -> None:
    """Create the topics that do not exist yet (with ``config``, topic-level settings);
    existing ones are left as they are."""
    admin = AIOKafkaAdminClient(**brokers.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            # A worker may create one meanwhile: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                new = [
                    NewTopic(n, num_partitions=partitions, replication_factor=1,
                             topic_configs=config or {})
                    for n in missing
                ]  # fmt: skip
                await admin.create_topics(new)
            logger.info("created topics %s with %d partitions", missing, partitions)
    finally:
        await admin.close()


async def ensure_topic_or_say(brokers: Brokers, name: str, retention_ms: int) -> None:
    """Create a one-partition topic of the worker's own (control, evidence, trending) with
    this retention; a broker that forbids it gets a log line, and the worker keeps serving."""
    try:
        await ensure_topics(brokers, [name], 1, {"retention.ms": str(retention_ms)})
    except Exception as exc:  # e.g. no CreateTopics permission: the operator creates it
        logger.error("cannot create topic %s (create it by hand): %s", name, exc)


async def partition_counts(brokers: Brokers, names: Iterable[str]) -> dict[str, int]:
    """How many partitions each of ``names`` that exists has (missing ones are left out).

    The metadata of every topic is asked for, not of these: a Metadata request naming a
    topic makes a broker with ``auto.create.topics.enable`` (Kafka's default) create it, with
    the broker's default partition count, the very thing this is asked to find out."""
    admin = AIOKafkaAdminClient(**brokers.client_kwargs())
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    wanted = set(names)
    return {
        t["topic"]: len(t["partitions"])
        for t in described
        if t["topic"] in wanted and t["error_code"] == 0 and t["partitions"]
    }


async def topic_config(brokers: Brokers, topic: str, name: str) -> str | None:
    """The value of an existing topic's setting (``cleanup.policy``), as the broker says."""
    admin = AIOKafkaAdminClient(**brokers.client_kwargs())
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    for resource in response.resources:
        error_code, error_message = resource[0], resource[1]
        if error_code:
            raise RuntimeError(f"DescribeConfigs of {topic}: error {error_code} {error_message}")
        for entry in resource[4]:
            if entry[0] == name:
                return None if entry[1] is None else str(entry[1])
    return None
