"""retrain's reading of the input topic: the stream's ingest decides what is learned from,
and verify's records (``streamrec.synthetic``) are counted apart, never learned from."""

from __future__ import annotations

import msgspec
from aiokafka import ConsumerRecord

from app.training.movielens import Rating
from app.training.topic_data import InteractionCollector

MARK = [("streamrec.synthetic", b"verify")]


def record(
    user: str, item: str, ts: int, offset: int, headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord[bytes, bytes]:
    value = msgspec.json.encode(
        {"user_id": user, "item_id": item, "event": "rate", "rating": 4, "ts": ts,
         "event_id": f"{user}-{item}-{ts}"}
    )  # fmt: skip
    return ConsumerRecord(
        "interactions", 0, offset, ts * 1000, 0, user.encode(), value, None, 0, len(value),
        headers or [],
    )  # fmt: skip


def test_synthetic_records_are_counted_but_not_learned_from() -> None:
    collect = InteractionCollector("interactions", max_bytes=65536, max_future_skew_s=86400)
    records = [
        record("a", "1", 100, 0),
        record("verify-u0", "7", 2_000_000_000 - 10**8, 1, MARK),  # verify's users: all marked
        record("a", "2", 90, 2),
        record("a", "7", 95, 3, MARK),  # a marked event of a real user is left out too
        record("a", "1", 100, 4),  # a producer retry of offset 0: the same event id
        record("a", "3", 120, 5),
    ]
    for r in records:
        collect.add(r)
    data = collect.data()
    # a's events in event time; nothing of the marked records.
    assert data.ratings == [Rating("a", "2", 4.0, 90), Rating("a", "1", 4.0, 100),
                            Rating("a", "3", 4.0, 120)]  # fmt: skip
    assert data.skipped == {"synthetic": 2, "duplicate_event": 1}
    assert data.records == 6 and data.offsets == {0: (0, 5)}
