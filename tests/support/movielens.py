"""Real ml-100k events as Kafka records, for tests that want realistic traffic."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import msgspec

from app.training.movielens import load_ratings
from devtools.replay import interaction_value

__all__ = ["MovieLensSlice", "movielens_records"]

MovieLensSlice = Callable[..., list[tuple[bytes, bytes]]]
"""The ``movielens_slice`` fixture's type: ``movielens_records``."""


def movielens_records(users: int, per_user: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """Up to ``per_user`` events of each of ``users`` users sampled with ``seed``, in time
    order, each with an event id, as (key, value) records."""
    ratings = load_ratings()
    everyone = sorted({r.user_id for r in ratings}, key=int)
    chosen = set(random.Random(seed).sample(everyone, users))
    taken: dict[str, int] = defaultdict(int)
    records = []
    for r in ratings:
        if r.user_id in chosen and taken[r.user_id] < per_user:
            taken[r.user_id] += 1
            value = msgspec.json.decode(interaction_value(r))
            value["event_id"] = f"ml-{r.user_id}-{r.item_id}"
            records.append((r.user_id.encode(), msgspec.json.encode(value)))
    return records
