"""Kafka topics as sinks: recommendations, the shadow arm's updates, dead letters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiokafka.structs import RecordMetadata

from app.kafka.producer import BatchSender
from app.kafka.topics import ensure_topics
from app.metrics import AppMetrics
from app.pipeline.result import BatchResult, OutRecord

__all__ = [
    "TopicSink", "by_item", "dead_letters", "moved", "moved_timestamps", "outputs", "shadows",
]  # fmt: skip

logger = logging.getLogger(__name__)


def outputs(result: BatchResult) -> Sequence[OutRecord]:
    return result.outputs


def shadows(result: BatchResult) -> Sequence[OutRecord]:
    return result.shadows


def dead_letters(result: BatchResult) -> Sequence[OutRecord]:
    return [letter.record for letter in result.dead_letters]


def by_item(result: BatchResult) -> Sequence[OutRecord]:
    return result.by_item


def moved(result: BatchResult) -> Sequence[OutRecord]:
    return [m.record for m in result.moved]


def moved_timestamps(result: BatchResult) -> Sequence[int | None]:
    return [m.timestamp_ms for m in result.moved]


class TopicSink:
    """One topic, fed by one part of the result, through the shared batch producer."""

    required = True

    def __init__(
        self,
        name: str,
        topic: str,
        part: Callable[[BatchResult], Sequence[OutRecord]],
        sender: BatchSender,
        metrics: AppMetrics,
        *,
        create_partitions: int = 0,
        timestamps: Callable[[BatchResult], Sequence[int | None]] | None = None,
        then: Callable[[BatchResult, Sequence[RecordMetadata | None]], None] | None = None,
    ) -> None:
        self.name = name
        self.topic = topic
        self.part = part
        self.sender = sender
        self.metrics = metrics
        self.create_partitions = create_partitions
        self.timestamps = timestamps
        """Each record's timestamp (ms), kept from its input (moved records); else now."""
        self.then = then
        """Called once the broker has the batch's records, with what it said of each batch."""

    async def start(self) -> None:
        """Create the topic if asked to (before the first batch needs it); the shared
        producer itself is started by the agent."""
        if not self.create_partitions:
            return
        try:
            await ensure_topics(self.sender.brokers, [self.topic], self.create_partitions)
        except Exception as exc:  # the broker may forbid creating topics: say so, keep serving
            logger.error("cannot create topic %s (create it by hand): %s", self.topic, exc)

    async def stop(self) -> None:
        """Stopped by the agent, after the last batch."""

    async def write(self, result: BatchResult) -> int:
        records = self.part(result)
        if not records:
            return 0
        try:
            stamps = self.timestamps(result) if self.timestamps else None
            sent = await self.sender.send_acked(self.topic, records, stamps)
        except Exception:
            self.metrics.produce_errors.inc()
            raise
        if self.then is not None:
            self.then(result, sent)
        return len(records)
