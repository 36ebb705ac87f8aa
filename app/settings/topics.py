"""Topics: the deployment's name, the topics it reads and writes, and how keys are partitioned.

``PartitionerName`` is defined here, with the setting that reads it; ``app.kafka.partitioners``
holds the functions by these names.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from app.settings.base import Scope, check_topic_name

__all__ = ["PartitionerName", "TopicSettings"]

PartitionerName = Literal["murmur2", "crc32", "fnv1a"]


class TopicSettings(Scope):
    """The app id, the topics' names and partitions, and the key partitioner."""

    app_id: str = "streamrec"
    """Faust app id: the consumer group and the prefix of the table changelog topics.
    One per deployment; workers with the same id share the work."""

    input_topic: str = "interactions"
    """Topic of user interactions (key = user id, value = JSON)."""

    output_topic: str = "recommendations"
    """Topic the recommendation updates go to (key = user id, value = JSON)."""

    dlq_topic: str = "interactions.dlq"
    """Dead-letter topic: rejected input, original bytes, headers say why."""

    key_partitioner: PartitionerName = "murmur2"
    """How the producers of the input topic pick a partition from the key (the user id):
    ``murmur2`` (the Java client, aiokafka, kafka-python), ``crc32`` (librdkafka's default:
    confluent-kafka, node-rdkafka; alias ``consistent``), ``fnv1a`` (Go's sarama). Views and
    forwarding look users up with it, and streamrec produces with it. Records that arrive on
    another partition (other producers, round-robin) are moved to theirs, so any setting works;
    the right one saves the move."""

    partitions: int = Field(default=8, ge=1, le=10_000)
    """Partitions of the topics and tables streamrec creates (the scaling unit)."""

    @field_validator("app_id", "input_topic", "output_topic", "dlq_topic")
    @classmethod
    def _topic_names(cls, value: str) -> str:
        # The app id too: it names the changelog, repartition and control topics.
        return check_topic_name(value)

    @field_validator("key_partitioner", mode="before")
    @classmethod
    def _partitioner_alias(cls, value: object) -> object:
        # librdkafka's names for the same functions
        aliases = {"consistent": "crc32", "consistent_random": "crc32",
                   "murmur2_random": "murmur2", "fnv1a_random": "fnv1a"}  # fmt: skip
        if isinstance(value, str):
            value = value.strip().lower()
            return aliases.get(value, value)
        return value

    @model_validator(mode="after")
    def _derived_names_fit(self) -> Self:
        for name in (self.shadow_topic, self.by_item_topic, self.trending_topic):
            if len(name) > 249:
                raise ValueError(f"STREAMREC_APP_ID and the topic names make {name[:40]!r}... "
                                 f"{len(name)} characters long, over Kafka's 249: shorten "
                                 "them")  # fmt: skip
        return self

    @property
    def partitions_given(self) -> bool:
        """Was STREAMREC_PARTITIONS set, rather than left at its default?"""
        return "partitions" in self.model_fields_set

    @property
    def shadow_topic(self) -> str:
        return self.output_topic + ".shadow"

    @property
    def by_item_topic(self) -> str:
        """The interactions repartitioned by item (Faust's group_by name for it)."""
        return f"{self.app_id}-{self.input_topic}-item_id-repartition"

    @property
    def trending_topic(self) -> str:
        """Each worker's top items per window, which every worker merges."""
        return f"{self.app_id}-trending"
