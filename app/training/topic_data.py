"""Interactions read back from the input topic, for ``retrain``: every record decoded by the
stream's own ingest (rejected ones counted by the same reasons), each user's events in order.
Records marked synthetic (``verify``'s) are skipped and counted: the stream serves them, but
a model learns from users.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections import Counter, defaultdict

import msgspec
from aiokafka import ConsumerRecord
from tqdm import tqdm

from app.errors import InvalidInteraction
from app.kafka.bounded import read_to_end
from app.kafka.brokers import Brokers
from app.pipeline.decode import RecordSource, decode_interaction, is_synthetic
from app.training.movielens import Rating

__all__ = ["InteractionCollector", "TopicData", "read_interactions"]


class TopicData(msgspec.Struct, frozen=True):
    """What ``read_interactions`` found."""

    topic: str
    ratings: list[Rating]
    """Valid interactions, user by user, each user's in event time (ties: topic order)."""
    offsets: dict[int, tuple[int, int]]
    """Partition -> (first, last) offset read; partitions with nothing to read are absent."""
    records: int
    skipped: dict[str, int]
    """Records the stream's ingest would reject (and replays of an event id), by reason; and
    ``synthetic``: records marked so (``streamrec.synthetic``, e.g. verify's), not learned from."""

    def digest(self) -> str:
        """SHA-256 of the interactions learned from (the manifest's ``data_sha256``)."""
        h = hashlib.sha256()
        for r in self.ratings:
            h.update(f"{r.user_id}\t{r.item_id}\t{r.rating}\t{r.ts}\n".encode())
        return h.hexdigest()

    def describe(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "offsets": {str(p): list(span) for p, span in sorted(self.offsets.items())},
            "records": self.records,
            "interactions": len(self.ratings),
            "skipped": dict(sorted(self.skipped.items())),
        }


class InteractionCollector:
    """Records of one topic as they are read, decoded by the stream's ingest: the valid
    interactions by user, and what was skipped and why."""

    def __init__(self, topic: str, *, max_bytes: int, max_future_skew_s: float) -> None:
        self.topic = topic
        self.max_bytes = max_bytes
        self.max_future_skew_s = max_future_skew_s
        self.records = 0
        self.offsets: dict[int, tuple[int, int]] = {}
        self.skipped: Counter[str] = Counter()
        self._by_user: dict[str, list[tuple[float, int, int, Rating]]] = defaultdict(list)
        self._seen_ids: set[str] = set()

    def add(self, r: ConsumerRecord[bytes, bytes]) -> None:
        """One record, in topic order within its partition (aiokafka's: timestamp in ms)."""
        self.records += 1
        first = self.offsets.get(r.partition, (r.offset, r.offset))[0]
        self.offsets[r.partition] = (first, r.offset)
        if is_synthetic(r.headers):
            self.skipped["synthetic"] += 1  # verify's traffic: served, but no user's behaviour
            return
        source = RecordSource(self.topic, r.partition, r.offset, r.timestamp / 1000)
        try:
            it = decode_interaction(r.key, r.value, source, max_bytes=self.max_bytes,
                                    max_future_skew_s=self.max_future_skew_s)  # fmt: skip
        except InvalidInteraction as exc:
            self.skipped[exc.reason] += 1
            return
        if it.event_id in self._seen_ids:
            self.skipped["duplicate_event"] += 1  # the stream dead-letters it too
            return
        self._seen_ids.add(it.event_id)
        user, item = sys.intern(it.user_id), sys.intern(it.item_id)
        rating = Rating(user, item, it.rating or 0.0, int(it.ts))
        self._by_user[user].append((it.ts, r.partition, r.offset, rating))

    def data(self) -> TopicData:
        """What was read: each user's interactions in event time (ties: topic order)."""
        ratings = [
            e[3] for events in self._by_user.values() for e in sorted(events, key=lambda e: e[:3])
        ]
        return TopicData(self.topic, ratings, self.offsets, self.records, dict(self.skipped))


async def read_interactions(
    brokers: Brokers,
    topic: str,
    *,
    max_bytes: int,
    max_future_skew_s: float,
    since_ms: int | None = None,
    progress: bool = True,
) -> TopicData:
    """Every record of ``topic`` from ``since_ms`` (default: the start of its retention) to
    its end when the read began (on the embedded broker: at the first fetch). Memory: one
    small record per valid interaction plus one id per event (user and item ids interned)."""
    collector = InteractionCollector(
        topic, max_bytes=max_bytes, max_future_skew_s=max_future_skew_s
    )
    bar = tqdm(unit="rec", desc=f"read {topic}", disable=not progress)
    plan = functools.partial(setattr, bar, "total")
    async for record in read_to_end(
        brokers, topic, since_ms=since_ms, on_plan=plan, on_fetch=bar.update
    ):
        collector.add(record)
    bar.close()
    return collector.data()
