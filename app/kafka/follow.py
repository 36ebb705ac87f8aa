"""Follow a topic every worker reads whole (the evidence and trending reports): no consumer
group, from the records that arrive after the start, through broker hiccups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.kafka.brokers import Brokers

__all__ = ["follow_topic"]

logger = logging.getLogger(__name__)

RETRY_S = 5.0
"""Wait before reading again after an error (the topic may not have been created yet)."""


async def follow_topic(brokers: Brokers, topic: str, take: Callable[[bytes | None], None]) -> None:
    """Call ``take`` with the value of every new record of ``topic`` until cancelled; a
    failure (no such topic yet, broker gone) is logged and the read starts again."""
    while True:
        # Reports are repeated every few seconds: what arrives from now on is enough.
        consumer = AIOKafkaConsumer(
            **brokers.client_kwargs(), group_id=None, enable_auto_commit=False
        )
        try:
            await consumer.start()
            await consumer.topics()
            parts = sorted(consumer.partitions_for_topic(topic) or ())
            if not parts:
                raise RuntimeError(f"topic {topic} not there yet")
            consumer.assign([TopicPartition(topic, p) for p in parts])
            async for record in consumer:
                take(record.value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s: %s; reading again in %.0f s", topic, exc, RETRY_S)
            await asyncio.sleep(RETRY_S)
        finally:
            await consumer.stop()
