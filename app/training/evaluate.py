"""Offline ranking metrics through the serving code path (feature function, masking, top-K)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.features.state import UserFeatureState
from app.inference.batcher import merge, rank_batch
from app.inference.scorer import Scorer
from app.records import ScoredItem

__all__ = [
    "History",
    "bootstrap_interval",
    "offline_report",
    "offline_top_k",
    "per_user",
    "ranking_metrics",
    "seeds_line",
    "summarise",
    "with_intervals",
]


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
        ranked = rank_batch(scorer, batch, k)
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
    return summarise(per_user({u: [i.item_id for i in ranked[u]] for u in users}, targets), k)


def per_user(
    ranked: Mapping[str, Sequence[str]], targets: Mapping[str, str]
) -> dict[str, npt.NDArray[np.float64]]:
    """Per user (rows in ``ranked``'s order): hit, NDCG and reciprocal rank of the target."""
    out = np.zeros((3, len(ranked)))
    for n, (user, row) in enumerate(ranked.items()):
        if targets[user] in row:
            rank = list(row).index(targets[user])
            out[:, n] = 1.0, 1.0 / math.log2(rank + 2), 1.0 / (rank + 1)
    return {"hr": out[0], "ndcg": out[1], "mrr": out[2]}


def summarise(values: Mapping[str, npt.NDArray[np.float64]], k: int) -> dict[str, float]:
    n = len(values["hr"])
    means = {f"{m}@{k}": float(v.mean()) if n else 0.0 for m, v in values.items()}
    return {**means, "users": n}


def with_intervals(values: Mapping[str, npt.NDArray[np.float64]], k: int) -> dict[str, Any]:
    """``summarise`` plus each metric's 95% bootstrap interval over users (``<metric>_ci``)."""
    row: dict[str, Any] = summarise(values, k)
    for metric, v in values.items():
        row[f"{metric}@{k}_ci"] = bootstrap_interval(v)
    return row


def bootstrap_interval(
    values: npt.NDArray[np.float64], *, samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean, resampling users."""
    if not len(values):
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def offline_report(served: Scorer, catalogue: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
    """Test-split metrics of the served model and the two baselines, on the same protocol:
    per user, chronological leave-one-out; history = train + validation item; full ranking.
    Each metric comes with its 95% bootstrap interval over users (``<metric>_ci``)."""
    from app.training.baselines import MostPopular, TransitionPopular
    from app.training.movielens import load_ratings
    from app.training.split import leave_one_out

    split = leave_one_out(load_ratings())
    history = split.states("test")  # what the stream would hold: ratings and times included
    train = list(split.train.values())
    rows = []
    for scorer in (served, MostPopular(catalogue, train), TransitionPopular(catalogue, train)):
        label = f"{scorer.manifest.name}/{scorer.manifest.version}"
        ranked = offline_top_k(scorer, history, k=k)
        values = per_user({u: [i.item_id for i in ranked[u]] for u in split.test}, split.test)
        rows.append({"model": label, **with_intervals(values, k)})
    return rows


def seeds_line(training: Mapping[str, Any]) -> str | None:
    """The test figures over training seeds that a manifest records (``train --seeds``), as
    one line: mean and sample standard deviation per metric; None without them."""
    seeds = training.get("seeds")
    if not isinstance(seeds, dict):
        return None
    mean, sd = seeds["test_mean"], seeds["test_sd"]
    cells = ", ".join(f"{m.upper()} {mean[m]:.4f} (sd {sd[m]:.4f})" for m in mean)
    return f"over training seeds {', '.join(seeds['by_seed'])} (chosen {seeds['chosen']}): {cells}"
