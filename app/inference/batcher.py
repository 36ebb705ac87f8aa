"""Merge a micro-batch of user states into one model input, split the scores back per user.

Pure numpy, no event loop: the timing (how a batch is gathered) lives in the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from app.features.builders import build_inputs
from app.features.state import UserFeatureState, seen_coordinates
from app.inference.scorer import Inputs, Scorer
from app.inference.topk import exhaustive_top_k
from app.records import ScoredItem

__all__ = [
    "ModelBatch", "Ranked", "RankingScorer", "merge", "rank_batch", "rank_states", "split_ranked",
    "split_top_k", "top_k",
]  # fmt: skip

Ranked = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
"""(columns [batch, k], scores [batch, k]) best first; a -inf score marks an empty place."""


class ModelBatch:
    """The model inputs for a batch plus the cells to mask (already-seen items)."""

    __slots__ = ("inputs", "mask_cols", "mask_rows")

    def __init__(
        self,
        inputs: Inputs,
        mask_rows: npt.NDArray[np.int64],
        mask_cols: npt.NDArray[np.int64],
    ) -> None:
        self.inputs = inputs
        self.mask_rows = mask_rows
        self.mask_cols = mask_cols


@runtime_checkable
class RankingScorer(Scorer, Protocol):
    """A scorer that ranks a batch itself, on its own thread (an ONNX score model: scores
    then the top-K cut; a two-tower version: retrieval, never [batch, N])."""

    def rank(self, batch: ModelBatch, k: int) -> Ranked:
        """Top-``k`` unseen columns per row with their scores."""
        ...

    async def rank_async(self, batch: ModelBatch, k: int) -> Ranked:
        """``rank`` on the scorer's own thread."""
        ...


def merge(states: Sequence[UserFeatureState], scorer: Scorer) -> ModelBatch:
    """One row per state of every input, made by the builders the model's manifest names."""
    spec = scorer.manifest
    inputs = build_inputs(
        states, spec.feature_spec.builders(spec.inputs), scorer.vocab, spec.feature_spec.max_len
    )
    rows, cols = seen_coordinates([s.seen for s in states], scorer.vocab)
    return ModelBatch(inputs, rows, cols)


def top_k(
    scores: npt.NDArray[np.float32],
    mask_rows: npt.NDArray[np.int64],
    mask_cols: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Best ``k`` columns per row, best first, never a masked cell nor the padding column 0."""
    # The kernel and its measurements: app/inference/topk.py, devtools/bench/topk.py.
    return exhaustive_top_k(scores, mask_rows, mask_cols, k)


def split_top_k(
    scores: npt.NDArray[np.float32], batch: ModelBatch, scorer: Scorer, k: int
) -> list[list[ScoredItem]]:
    """Per row, the top-``k`` unseen items with their scores (fewer if fewer remain)."""
    idx, vals = top_k(scores, batch.mask_rows, batch.mask_cols, k)
    return split_ranked(idx, vals, scorer)


def split_ranked(
    idx: npt.NDArray[np.int64], vals: npt.NDArray[np.float32], scorer: Scorer
) -> list[list[ScoredItem]]:
    """Per row, the ranked columns as items with their scores, without the empty places."""
    names = np.asarray(scorer.items, dtype=object)[idx].tolist()
    full = [bool(b) for b in np.isfinite(vals).min(axis=1)]
    out: list[list[ScoredItem]] = []
    # map() over the constructor: this runs for every item of every update in the batch.
    for row_names, row_vals, whole in zip(names, vals.tolist(), full, strict=True):
        if not whole:  # fewer than k unseen items: drop the masked (-inf) places
            kept = [n for n, v in enumerate(row_vals) if v != -np.inf]
            row_names = [row_names[n] for n in kept]
            row_vals = [row_vals[n] for n in kept]
        out.append(list(map(ScoredItem, row_names, row_vals)))
    return out


def rank_batch(scorer: Scorer, batch: ModelBatch, k: int) -> list[list[ScoredItem]]:
    """Top-``k`` per row of a merged batch, on the calling thread (offline evaluation)."""
    if isinstance(scorer, RankingScorer):
        return split_ranked(*scorer.rank(batch, k), scorer)
    return split_top_k(scorer.score(batch.inputs), batch, scorer, k)


async def rank_states(
    scorer: Scorer, states: Sequence[UserFeatureState], k: int
) -> list[list[ScoredItem]]:
    """Top-``k`` per state, in one model call (on the scorer's thread)."""
    batch = merge(states, scorer)
    if isinstance(scorer, RankingScorer):
        return split_ranked(*await scorer.rank_async(batch, k), scorer)
    return split_top_k(await scorer.score_async(batch.inputs), batch, scorer, k)
