"""Changelog ends come from a fetch's high watermark, which is right on every broker."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from app.kafka.topics import ensure_topics
from app.worker.faust_compat.consumer_thread import fetched_highwaters
from tests.support.deployment import Deployment


async def test_fetched_highwater_is_the_end_of_the_partition(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    topic, empty = f"{d.ns}.batches", f"{d.ns}.empty"
    await ensure_topics(d.brokers, [topic, empty], 1)
    producer = AIOKafkaProducer(**d.brokers.client_kwargs(), linger_ms=50)
    await producer.start()
    try:
        for _ in range(2):  # two batches of five records
            batch = producer.create_batch()
            for n in range(5):
                batch.append(key=None, value=b"%d" % n, timestamp=None)
            batch.close()
            await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()
    tp, tp_empty = TopicPartition(topic, 0), TopicPartition(empty, 0)
    consumer = AIOKafkaConsumer(**d.brokers.client_kwargs())
    await consumer.start()
    try:
        listed = await consumer.end_offsets([tp, tp_empty])
    finally:
        await consumer.stop()
    # ListOffsets: 10 on Kafka; the embedded broker says 6 (the last batch's base + 1).
    assert listed[tp] in (6, 10)
    got = await fetched_highwaters(listed, **d.brokers.client_kwargs())
    assert got == {tp: 10, tp_empty: 0}
