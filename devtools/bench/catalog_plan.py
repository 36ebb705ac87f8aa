"""The catalog scenario's pure parts: which runs, the users and their events, recall@10.

Users come in two groups of the same size: one taste (every item from one cluster, the query
near it) and two tastes (the query between two clusters, the hard case for an index);
recall is reported for each group apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from devtools.bench.load import Event
from devtools.catalog import Catalog, user_histories

__all__ = ["GROUPS", "CatalogPlan", "CatalogRun", "catalog_events", "exact_top10", "histories",
           "recall_at_10", "served_top"]  # fmt: skip

GROUPS = {"one taste": ("a", 1), "two tastes": ("b", 2)}
"""Recall group -> (user-id prefix, taste clusters per user)."""

_encode = msgspec.json.Encoder().encode
# Users scored exactly at a time: a [chunk, n_items] float32 block (128 MB at 1M items).
_CHUNK = 32


@dataclass(frozen=True)
class CatalogRun:
    """One drain: a catalog size, how it is served, and how many of the users it gets."""

    items: int
    mode: str
    """``exhaustive`` (every item scored exactly) or ``retrieval`` (the ANN index)."""
    users: int
    """Users per recall group (each sends ``per_user`` events)."""
    again: bool = False
    """The reference drained a second time, last: the two bracket the run."""


@dataclass(frozen=True)
class CatalogPlan:
    """Sizes and load of the catalog scenario."""

    sizes: tuple[int, ...] = (2_000, 10_000, 100_000, 1_000_000)
    """The first is the reference ("the same kind of model at a small catalog"): served as
    a worker serves it by default, exhaustively (below STREAMREC_RETRIEVAL_EXHAUSTIVE_BELOW)."""
    users: int = 2_000
    """Users per recall group: 2 groups x ``users`` x ``per_user`` events per drain."""
    per_user: int = 5
    exhaustive_max_events: int = 4_000
    """Exhaustive scoring of catalogs of ``slow_above`` items or more drains only this many
    events (fewer users, every one of their events): at a million items it scores ~200
    events/s and holds a [batch, 1M] score matrix."""
    slow_above: int = 1_000_000
    recall_users: int = 250
    """Users per recall group whose last update is checked against exact numpy."""
    dims: int = 64
    clusters: int = 500
    repeat_reference: bool = True
    """Drain the reference again at the end (the two bracket the run's load)."""

    @property
    def sampled_users(self) -> int:
        """Users per group whose recall is measured."""
        return min(self.recall_users, self.users)

    def runs(self) -> list[CatalogRun]:
        """Reference exhaustive, then exhaustive and retrieval for every larger size, then
        the reference again: on a shared machine the two say how much the load moved."""
        out = [CatalogRun(self.sizes[0], "exhaustive", self.users)]
        capped = max(1, self.exhaustive_max_events // (len(GROUPS) * self.per_user))
        for size in self.sizes[1:]:
            exhaustive_users = min(self.users, capped) if size >= self.slow_above else self.users
            out.append(CatalogRun(size, "exhaustive", exhaustive_users))
            out.append(CatalogRun(size, "retrieval", self.users))
        if self.repeat_reference and len(self.sizes) > 1:
            out.append(CatalogRun(self.sizes[0], "exhaustive", self.users, again=True))
        return out


def histories(catalog: Catalog, plan: CatalogPlan) -> dict[str, list[str]]:
    """Every user's items in event order, both groups (ids ``a<n>``, ``b<n>``)."""
    out: dict[str, list[str]] = {}
    for seed, (prefix, tastes) in enumerate(GROUPS.values(), start=11):
        group = user_histories(catalog, plan.users, plan.per_user, tastes=tastes, seed=seed)
        out.update({prefix + user[1:]: items for user, items in group.items()})
    return out


def catalog_events(users: Mapping[str, Sequence[str]]) -> list[Event]:
    """Each user's events, interleaved round by round (event n of every user, then n + 1);
    the event id ``<user>-<n>``."""
    events: list[Event] = []
    rounds = max((len(items) for items in users.values()), default=0)
    for n in range(rounds):
        for user, items in users.items():
            if n < len(items):
                event_id = f"{user}-{n}"
                value = {"user_id": user, "item_id": items[n], "event": "view",
                         "event_id": event_id}  # fmt: skip
                events.append((user.encode(), _encode(value), event_id))
    return events


def served_top(
    updates: Iterable[bytes], users: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Each user's items in the update answering their last event (output values)."""
    last = {f"{user}-{len(items) - 1}": user for user, items in users.items()}
    out = {}
    for value in updates:
        update = msgspec.json.decode(value)
        user = last.get(update["event_id"])
        if user is not None:
            out[user] = [i["item_id"] for i in update["items"]]
    return out


def exact_top10(
    catalog: Catalog, users: Mapping[str, Sequence[str]], max_len: int = 50
) -> dict[str, list[str]]:
    """The exact top 10 unseen items of each user: inner product with the mean of the vectors
    of their recent items (the synthetic query tower), ties by catalog order."""
    row = {item: n for n, item in enumerate(catalog.items)}
    names = list(users)
    out: dict[str, list[str]] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        queries = np.stack([catalog.vectors[[row[i] for i in users[u][-max_len:]]].mean(axis=0)
                            for u in chunk])  # fmt: skip
        scores = queries @ catalog.vectors.T  # [chunk, n_items]
        for r, user in enumerate(chunk):
            scores[r, [row[i] for i in users[user]]] = -np.inf
        for r, user in enumerate(chunk):
            top = np.argpartition(-scores[r], 10)[:10]
            top = top[np.lexsort((top, -scores[r, top]))]
            out[user] = [catalog.items[n] for n in top]
    return out


def recall_at_10(served: Mapping[str, Sequence[str]], exact: Mapping[str, Sequence[str]]) -> float:
    """Mean share of each user's exact top 10 among their served top 10 (a user left
    unanswered counts 0)."""
    if not exact:
        return float("nan")
    hits = [len(set(served.get(user, ())) & set(want)) / 10 for user, want in exact.items()]
    return float(np.mean(hits))
