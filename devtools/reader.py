"""Read topics from the start until a condition holds: the one reader of tests, bench, verify.

The end of a topic is not taken from offsets: the embedded broker's ListOffsets is not the
high watermark. Readers say what "enough" is instead, and a deadline bounds the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from app.kafka.brokers import Brokers

__all__ = ["Records", "read_topics"]


Records = list[ConsumerRecord[bytes, bytes]]


async def read_topics(
    brokers: Brokers,
    topics: Sequence[str],
    enough: Callable[[Records], bool],
    *,
    within_s: float = 60.0,
    settle_s: float = 0.0,
    check_every_s: float = 0.0,
) -> Records:
    """Records of ``topics`` in order per partition, once ``enough(records)`` holds (then
    ``settle_s`` more, so late extras such as duplicates show too), or at the deadline.

    ``check_every_s`` spaces out the checks when ``enough`` is costly.
    """
    consumer = AIOKafkaConsumer(
        *topics, **brokers.client_kwargs(), group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20,
    )  # fmt: skip
    await consumer.start()
    got: Records = []
    deadline = time.monotonic() + within_s
    next_check, settling = 0.0, False
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(records)
            now = time.monotonic()
            if settling or now < next_check:
                continue
            next_check = now + check_every_s
            if enough(got):
                if settle_s <= 0:
                    break
                deadline = min(deadline, now + settle_s)
                settling = True
    finally:
        await consumer.stop()
    return got
