"""The dead letters and the redrive markers beside them, read to where their topics ended
when the read began (``app.kafka.bounded``), or one letter at its position.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.deadletters.letters import DeadLetter
from app.deadletters.redrive import MarkerState, decode_marker
from app.kafka.bounded import STALL_S, read_to_end
from app.kafka.brokers import Brokers

__all__ = ["read_letter_at", "read_letters", "read_markers"]

logger = logging.getLogger(__name__)


async def read_letters(brokers: Brokers, topic: str) -> AsyncGenerator[DeadLetter, None]:
    """The dead letters of ``topic`` up to its end when the read began."""
    async for record in read_to_end(brokers, topic):
        yield DeadLetter.of(record)


async def read_markers(brokers: Brokers, topic: str) -> dict[tuple[int, int], MarkerState]:
    """Dead letter position -> its last redrive marker, from the marker topic ``topic``."""
    markers: dict[tuple[int, int], MarkerState] = {}
    async for record in read_to_end(brokers, topic):
        try:
            position, state = decode_marker(record.key, record.value)
        except ValueError as exc:
            logger.warning("%s %d:%d skipped: %s", topic, record.partition, record.offset, exc)
            continue
        markers[position] = state
    return markers


async def read_letter_at(
    brokers: Brokers, topic: str, partition: int, offset: int, within_s: float = STALL_S
) -> DeadLetter | None:
    """The dead letter at ``partition``:``offset`` of ``topic``, read there directly (None
    if there is none: no such partition, an offset past the end or gone with retention)."""
    consumer = AIOKafkaConsumer(
        **brokers.client_kwargs(), group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
    )  # fmt: skip
    await consumer.start()
    try:
        await consumer.topics()
        tp = TopicPartition(topic, partition)
        if partition not in (consumer.partitions_for_topic(topic) or ()):
            return None
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        if offset < start:
            return None
        consumer.seek(tp, offset)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            # The fetch's high watermark is the end (ListOffsets may fall short: app.kafka.bounded).
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                return DeadLetter.of(record) if record.offset == offset else None
            highwater = consumer.highwater(tp)
            if highwater is not None and offset >= highwater:
                return None
        return None
    finally:
        await consumer.stop()
