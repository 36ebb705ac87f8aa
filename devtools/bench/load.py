"""Benchmark load: real MovieLens events, users replicated to any scale, sent flat out or at a
constant open-loop rate."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.training.movielens import Rating
from devtools.replay import produce_open_loop

__all__ = ["Event", "make_events", "send_events"]


_encode = msgspec.json.Encoder().encode

Event = tuple[bytes, bytes, str]
"""(key, value, event_id)."""


def make_events(
    ratings: Sequence[Rating], count: int, *, distinct_users: int = 0, tag: str = "b"
) -> list[Event]:
    """``count`` input records cycling through ml-100k in time order; copy ``k`` of the data
    renames user ``u`` to ``u#k``. ``distinct_users`` > 0 instead gives every event its own
    user among that many (to fill the table)."""
    events: list[Event] = []
    n = len(ratings)
    for i in range(count):
        r = ratings[i % n]
        if distinct_users:
            user = f"u{i % distinct_users}"
        else:
            copy = i // n
            user = r.user_id if copy == 0 else f"{r.user_id}#{copy}"
        event_id = f"{tag}-{i}"
        value = {"user_id": user, "item_id": r.item_id, "event": "rate", "rating": r.rating,
                 "event_id": event_id}  # fmt: skip
        events.append((user.encode(), _encode(value), event_id))
    return events


async def send_events(
    brokers: Brokers,
    topic: str,
    events: Sequence[Event],
    *,
    rate: float = 0.0,
    partitioner: KeyPartitioner | None = None,
) -> float:
    """Produce ``events`` (rate 0 = flat out, else open loop) and return the achieved rate;
    ``partitioner``: the producer's (default murmur2, streamrec's own)."""
    records = [(key, value) for key, value, _ in events]
    return await produce_open_loop(
        records, brokers=brokers, topic=topic, rate=rate, partitioner=partitioner
    )
