"""Replay MovieLens-100k into the input topic, in time order, at a chosen rate."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

import msgspec
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.kafka.topics import ensure_topics
from app.settings import Settings
from app.training.movielens import Rating, load_ratings

__all__ = ["interaction_value", "produce_open_loop", "replay", "replay_movielens"]


_encode = msgspec.json.Encoder().encode


def interaction_value(r: Rating) -> bytes:
    """The input-contract JSON for one ml-100k rating (an explicit ``rate`` event)."""
    return _encode(
        {
            "user_id": r.user_id,
            "item_id": r.item_id,
            "event": "rate",
            "rating": r.rating,
            "ts": r.ts,
        }
    )


async def produce_open_loop(
    records: Sequence[tuple[bytes | None, bytes | None]],
    *,
    brokers: Brokers,
    topic: str,
    rate: float = 0.0,
    progress: bool = False,
    partitioner: KeyPartitioner | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> float:
    """Produce (key, value) records in order at ``rate`` per second (0 = flat out) and return
    the achieved rate. Open loop: record i is due at start + i/rate, however long sends take.
    ``partitioner``: the deployment's (default: aiokafka's, murmur2); ``headers``: on every
    record."""
    producer = AIOKafkaProducer(
        **brokers.client_kwargs(), linger_ms=2, acks="all", max_request_size=8 << 20,
        **({"partitioner": partitioner} if partitioner else {}),
    )  # fmt: skip
    await producer.start()
    try:
        start = time.monotonic()
        pending = []
        marks = list(headers) or None
        bar = tqdm(records, unit="ev", disable=not progress, desc=f"replay -> {topic}")
        for i, (key, value) in enumerate(bar):
            if rate > 0:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await producer.send(topic, value, key=key, headers=marks))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return len(records) / max(time.monotonic() - start, 1e-9)
    finally:
        await producer.stop()


async def replay(
    ratings: Sequence[Rating],
    *,
    brokers: Brokers,
    topic: str,
    rate: float = 0.0,
    progress: bool = True,
    partitioner: KeyPartitioner | None = None,
) -> int:
    """Produce ``ratings`` keyed by user id; ``rate`` events/s (0 = as fast as possible)."""
    records = [(r.user_id.encode(), interaction_value(r)) for r in ratings]
    await produce_open_loop(
        records, brokers=brokers, topic=topic, rate=rate, progress=progress,
        partitioner=partitioner,
    )  # fmt: skip
    return len(records)


async def replay_movielens(
    settings: Settings,
    *,
    rate: float,
    count: int = 0,
    users: set[str] | None = None,
    sample_users: int = 0,
    seed: int = 0,
    progress: bool = True,
) -> int:
    """Replay ml-100k (optionally some users, or a seeded sample of them) into the input topic."""
    ratings = load_ratings()
    if users:
        ratings = [r for r in ratings if r.user_id in users]
    if sample_users:
        everyone = sorted({r.user_id for r in ratings}, key=int)
        chosen = set(random.Random(seed).sample(everyone, min(sample_users, len(everyone))))
        ratings = [r for r in ratings if r.user_id in chosen]
    if count:
        ratings = ratings[:count]
    s = settings
    brokers = Brokers.from_settings(s)
    # Created here with the worker's layout, so a replay before the first worker cannot
    # leave a broker-default (one-partition) input topic behind.
    await ensure_topics(brokers, [s.input_topic, s.output_topic, s.dlq_topic], s.partitions)
    return await replay(
        ratings,
        brokers=brokers,
        partitioner=KeyPartitioner(s.key_partitioner),
        topic=s.input_topic,
        rate=rate,
        progress=progress,
    )
