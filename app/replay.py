"""Replay MovieLens-100k into the input topic, in time order, at a chosen rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import msgspec
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from app.movielens import Rating

__all__ = ["interaction_value", "replay"]

logger = logging.getLogger(__name__)

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


async def replay(
    ratings: Sequence[Rating],
    *,
    bootstrap_servers: list[str],
    topic: str,
    rate: float = 0.0,
    progress: bool = True,
) -> int:
    """Produce ``ratings`` keyed by user id; ``rate`` events/s (0 = as fast as possible)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=5, acks="all")
    await producer.start()
    sent = 0
    try:
        start = time.monotonic()
        pending = []
        for r in tqdm(ratings, unit="ev", disable=not progress, desc=f"replay -> {topic}"):
            if rate > 0:
                # Open loop: event i is due at start + i/rate, however long sends take.
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await producer.send(topic, interaction_value(r), key=r.user_id.encode()))
            sent += 1
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent
