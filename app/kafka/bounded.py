"""Read a topic to where it ended when the read began: for commands that must finish while
workers go on writing (``dlq``, ``retrain``).

The end is each partition's high watermark at the start. ListOffsets gives it on Kafka and
Redpanda; the embedded broker answers it with the last batch's base offset + 1, short of the
end by up to a batch, so each end is raised to the high watermark of the first fetch (once: a
live topic is not chased for ever).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from app.kafka.brokers import Brokers

__all__ = ["STALL_S", "read_to_end"]

logger = logging.getLogger(__name__)

STALL_S = 30.0
"""A partition that returns nothing for this long short of its end is given up (and said)."""


async def read_to_end(
    brokers: Brokers,
    topic: str,
    *,
    since_ms: int | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_fetch: Callable[[int], None] | None = None,
) -> AsyncGenerator[ConsumerRecord[bytes, bytes], None]:
    """Every record of ``topic`` (none if it does not exist) from ``since_ms`` (default: the
    start of its retention), partition by partition in offset order, up to each partition's
    end when the read began. ``on_plan`` gets the number of records expected, ``on_fetch``
    each fetch's size (a progress bar)."""
    consumer = AIOKafkaConsumer(
        **brokers.client_kwargs(), group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20,
    )  # fmt: skip
    await consumer.start()
    try:
        await consumer.topics()
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not parts:
            return
        consumer.assign(parts)
        starts = await _starts(consumer, parts, since_ms)
        ends = await consumer.end_offsets(parts)
        if on_plan is not None:
            on_plan(sum(max(0, ends[tp] - starts[tp]) for tp in parts))
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
                if on_fetch is not None:
                    on_fetch(len(batch))
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


async def _starts(
    consumer: AIOKafkaConsumer, parts: list[TopicPartition], since_ms: int | None
) -> dict[TopicPartition, int]:
    """Where reading begins per partition (and seek there)."""
    starts = dict(await consumer.beginning_offsets(parts))
    if since_ms is not None:
        found = await consumer.offsets_for_times({tp: since_ms for tp in parts})
        ends = await consumer.end_offsets(parts)
        starts = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in parts}
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    return starts
