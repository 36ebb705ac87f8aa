"""Relevance through a running deployment: replay ml-100k but each user's last interaction,
then score the update each user got after their last replayed event against that held-out
item (the offline test protocol, measured on what the stream emitted)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.training.evaluate import per_user, with_intervals
from app.training.movielens import load_ratings
from app.training.split import leave_one_out
from devtools.reader import Records, read_topics
from devtools.replay import produce_open_loop

__all__ = ["stream_relevance"]


async def stream_relevance(
    brokers: Brokers,
    input_topic: str,
    output_topic: str,
    *,
    rate: float = 0.0,
    within_s: float = 900.0,
    k: int = 10,
    progress: bool = False,
    partitioner: KeyPartitioner | None = None,
) -> dict[str, Any]:
    """HR/NDCG/MRR@k (with 95% bootstrap intervals) of the stream's last update per user.

    Events carry ids of this run (``eval-<run>-<user>-<n>``), so earlier traffic on the
    topics is ignored; the deployment's state should be fresh for the figures to mean the
    offline protocol (each user's state = everything before their test item).
    """
    split = leave_one_out(load_ratings())
    run = uuid.uuid4().hex[:8]
    records: list[tuple[bytes | None, bytes | None]] = []
    last_id: dict[str, str] = {}
    seen: dict[str, int] = {}
    for r in load_ratings():
        n = seen[r.user_id] = seen.get(r.user_id, 0) + 1
        if r.user_id in split.test and n == len(split.events[r.user_id]):
            continue  # the held-out test interaction
        event_id = last_id[r.user_id] = f"eval-{run}-{r.user_id}-{n}"
        value = {"user_id": r.user_id, "item_id": r.item_id, "event": "rate",
                 "rating": r.rating, "ts": r.ts, "event_id": event_id}  # fmt: skip
        records.append((r.user_id.encode(), msgspec.json.encode(value)))
    await produce_open_loop(
        records, brokers=brokers, topic=input_topic, rate=rate,
        progress=progress, partitioner=partitioner,
    )  # fmt: skip
    wanted = {last_id[u]: u for u in split.test}
    found: dict[str, list[str]] = {}
    read = 0

    def enough(got: Records) -> bool:
        nonlocal read
        for record in got[read:]:
            update = msgspec.json.decode(record.value or b"{}")
            user = wanted.get(update.get("event_id", ""))
            if user is not None:
                found[user] = [i["item_id"] for i in update["items"]]
        read = len(got)
        return len(found) == len(wanted)

    await read_topics(brokers, [output_topic], enough, within_s=within_s, check_every_s=1.0)
    values = per_user({u: found.get(u, []) for u in split.test}, split.test)
    return {**with_intervals(values, k), "events": len(records), "answered": len(found)}
