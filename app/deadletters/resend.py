"""Redrive, the Kafka part: send planned dead letters back to the input topic, each between
its ``pending`` and ``sent`` markers (``app.deadletters.redrive`` says why)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from app.deadletters.letters import DeadLetter
from app.deadletters.redrive import (
    MARKER_CONFIG,
    MarkerState,
    marker_record,
    marker_topic,
    redriven_record,
)
from app.errors import RedriveRefused
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.kafka.producer import BatchSender
from app.kafka.topics import ensure_topics

__all__ = ["CHUNK", "resend"]

logger = logging.getLogger(__name__)

CHUNK = 500
"""Letters per round of markers and records: what a stopped run can leave ``pending``."""


async def resend(
    brokers: Brokers,
    letters: Sequence[DeadLetter],
    *,
    dlq_topic: str,
    input_topic: str,
    partitioner: KeyPartitioner,
    compression: str | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Send ``letters`` to ``input_topic`` (on their key's partition, stamped now,
    ``compression`` as the worker's own producers), once each as far as the markers of
    ``dlq_topic`` go; the number sent."""
    markers = marker_topic(dlq_topic)
    try:
        await ensure_topics(brokers, [markers], 1, MARKER_CONFIG)
    except Exception as exc:
        raise RedriveRefused(
            f"cannot create the redrive marker topic {markers} ({exc}): create it by hand "
            "(1 partition, cleanup.policy=compact) or allow this client to create topics"
        ) from exc
    # Dead letters hold the input's bytes, whatever size the input topic accepted.
    sender = BatchSender(
        brokers, partitioner, max_request_bytes=32 << 20, compression_type=compression
    )
    await sender.start()
    sent = 0
    try:
        for start in range(0, len(letters), CHUNK):
            chunk = letters[start : start + CHUNK]
            now_ms = int(clock() * 1000)
            await _mark(sender, markers, chunk, "pending", input_topic, now_ms)
            records = [redriven_record(letter, dlq_topic, now_ms) for letter in chunk]
            await asyncio.gather(*await sender.send_many(input_topic, records))
            await _mark(sender, markers, chunk, "sent", input_topic, now_ms)
            sent += len(chunk)
            logger.info("redrove %d of %d dead letters", sent, len(letters))
    finally:
        await sender.stop()
    return sent


async def _mark(
    sender: BatchSender,
    topic: str,
    letters: Sequence[DeadLetter],
    state: MarkerState,
    to: str,
    now_ms: int,
) -> None:
    records = [marker_record(letter, state, to, now_ms) for letter in letters]
    await asyncio.gather(*await sender.send_many(topic, records))
