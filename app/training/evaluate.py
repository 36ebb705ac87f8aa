"""Offline ranking metrics through the serving code path (feature function, masking, top-K)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from app.features import UserFeatureState
from app.inference.batcher import merge, split_top_k
from app.inference.scorer import Scorer
from app.records import ScoredItem

__all__ = ["History", "offline_report", "offline_top_k", "ranking_metrics"]


History = Sequence[str] | UserFeatureState
"""A user's item history (oldest first), or the feature state the stream keeps for them."""


def offline_top_k(
    scorer: Scorer,
    histories: Mapping[str, History],
    *,
    k: int = 10,
    batch_size: int = 512,
) -> dict[str, list[ScoredItem]]:
    """Top-``k`` per user, as the stream would rank it: the model's feature builders on the
    user's state (an item history becomes the state of those items), everything seen masked."""
    users = list(histories)
    out: dict[str, list[ScoredItem]] = {}
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        states = [_state(histories[u]) for u in chunk]
        batch = merge(states, scorer)
        ranked = split_top_k(scorer.score(batch.inputs), batch, scorer, k)
        out.update(zip(chunk, ranked, strict=True))
    return out


def _state(history: History) -> UserFeatureState:
    if isinstance(history, UserFeatureState):
        return history
    return UserFeatureState(recent=tuple(history), seen=tuple(history))


def ranking_metrics(
    scorer: Scorer,
    histories: Mapping[str, History],
    targets: Mapping[str, str],
    *,
    k: int = 10,
) -> dict[str, float]:
    """HR@k, NDCG@k, MRR@k over all items, masking everything in the user's history."""
    users = [u for u in targets if u in histories]
    ranked = offline_top_k(scorer, {u: histories[u] for u in users}, k=k)
    hits = ndcg = mrr = 0.0
    for user in users:
        row = [i.item_id for i in ranked[user]]
        if targets[user] in row:
            rank = row.index(targets[user])
            hits += 1
            ndcg += 1.0 / math.log2(rank + 2)
            mrr += 1.0 / (rank + 1)
    n = max(len(users), 1)
    return {f"hr@{k}": hits / n, f"ndcg@{k}": ndcg / n, f"mrr@{k}": mrr / n, "users": len(users)}


def offline_report(served: Scorer, catalogue: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
    """Test-split metrics of the served model and the two baselines, on the same protocol:
    per user, chronological leave-one-out; history = train + validation item; full ranking."""
    from app.movielens import load_ratings
    from app.training.baselines import MostPopular, TransitionPopular
    from app.training.split import leave_one_out

    split = leave_one_out(load_ratings())
    history = split.states("test")  # what the stream would hold: ratings and times included
    train = list(split.train.values())
    rows = []
    for scorer in (served, MostPopular(catalogue, train), TransitionPopular(catalogue, train)):
        label = f"{scorer.manifest.name}/{scorer.manifest.version}"
        rows.append({"model": label, **ranking_metrics(scorer, history, split.test, k=k)})
    return rows
