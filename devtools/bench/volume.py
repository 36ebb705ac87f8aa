"""What a drain wrote: records and bytes per topic of one deployment (issue #39's measure).

Read after the worker stopped, every partition from its start to the fetch high watermark
(the embedded broker's ListOffsets is off by a batch; the fetch's watermark is right).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.kafka.brokers import Brokers

__all__ = ["deployment_topics", "topic_volumes"]


async def deployment_topics(brokers: Brokers, marker: str, exclude: Sequence[str]) -> list[str]:
    """The topics whose name holds ``marker`` (a namespace: its topics and its app id's
    changelogs), less ``exclude`` (the input, which the bench wrote)."""
    admin = AIOKafkaAdminClient(**brokers.client_kwargs())
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(n for n in names if marker in n and n not in exclude)


async def topic_volumes(
    brokers: Brokers, topics: Sequence[str], *, within_s: float = 120.0
) -> dict[str, dict[str, int]]:
    """Per topic: ``records`` and ``bytes`` (keys + values + headers) it holds."""
    consumer = AIOKafkaConsumer(
        **brokers.client_kwargs(), group_id=None, enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20,
    )  # fmt: skip
    await consumer.start()
    out = {t: {"records": 0, "bytes": 0} for t in topics}
    try:
        await consumer.topics()  # metadata for every topic, so partitions_for_topic knows them
        parts = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        if not parts:
            return out
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                row = out[tp.topic]
                row["records"] += len(records)
                row["bytes"] += sum(
                    len(r.key or b"") + len(r.value or b"")
                    + sum(len(k) + len(v or b"") for k, v in r.headers)
                    for r in records
                )  # fmt: skip
            if await _at_end(consumer, parts):
                break
    finally:
        await consumer.stop()
    return out


async def _at_end(consumer: AIOKafkaConsumer, parts: Sequence[TopicPartition]) -> bool:
    """Has every partition been read up to the high watermark its last fetch reported?"""
    for tp in parts:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True
