"""Read a topic from its start to where it ended when the read began: the dead letters, and
the redrive markers beside them.

The end is each partition's high watermark at the start, so a read terminates while workers
go on writing. ListOffsets gives it on Kafka and Redpanda; the embedded broker answers it with
the last batch's base offset + 1, so each end is raised to the high watermark of the first
fetch (once: a live topic is not chased for ever).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from app.deadletters.letters import DeadLetter
from app.deadletters.redrive import MarkerState, decode_marker
from app.kafka.brokers import Brokers

__all__ = ["read_letter_at", "read_letters", "read_markers", "read_to_end"]

logger = logging.getLogger(__name__)

STALL_S = 30.0
"""A partition that returns nothing for this long short of its end is given up (and said)."""


async def read_to_end(
    brokers: Brokers, topic: str
) -> AsyncGenerator[ConsumerRecord[bytes, bytes], None]:
    """Every record of ``topic`` (none if it does not exist), partition by partition in
    offset order, up to each partition's end when the read began."""
    consumer = AIOKafkaConsumer(
        **brokers.client_kwargs(), group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20,
    )  # fmt: skip
    await consumer.start()
    try:
        await consumer.topics()
        numbers = sorted(consumer.partitions_for_topic(topic) or ())
        parts = [TopicPartition(topic, p) for p in numbers]
        if not parts:
            return
        consumer.assign(parts)
        starts = await consumer.beginning_offsets(parts)
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in parts if ends[tp] > starts[tp]}
        raised: set[TopicPartition] = set()
        last_progress = time.monotonic()
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, batch in fetched.items():
                if tp not in raised:
                    raised.add(tp)
                    ends[tp] = max(ends[tp], consumer.highwater(tp) or 0)
                for record in batch:
                    if record.offset >= ends[tp]:
                        break
                    yield record
            if fetched:
                last_progress = time.monotonic()
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if pending and time.monotonic() - last_progress > STALL_S:
                logger.warning("%s: nothing read for %.0f s short of the end of partitions %s; "
                               "stopping there", topic, STALL_S,
                               sorted(tp.partition for tp in pending))  # fmt: skip
                break
    finally:
        await consumer.stop()


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
            # The fetch's high watermark is the end (ListOffsets may fall short: see above).
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                return DeadLetter.of(record) if record.offset == offset else None
            highwater = consumer.highwater(tp)
            if highwater is not None and offset >= highwater:
                return None
        return None
    finally:
        await consumer.stop()
