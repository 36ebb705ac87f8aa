"""Hybrid: SASRec, ItemSVD and EASE scored in one ONNX graph (one model call per batch).

scores = SASRec's next-item log-probabilities + ``svd_weight`` x ItemSVD's scores (the last
``ItemSvdParams.max_len`` items of the history) + ``ease_weight`` x EASE's (the window as a
set of items, each weighted by its age before the latest: ``ease.input_weights``; each item's
``EASE_NEIGHBOURS`` largest weights, never the dense items x items matrix). The three
err differently: self-attention reads order over the last 50 items, ItemSVD the
recency-weighted co-occurrence of the last 20, EASE which items are rated together
regardless of order (ml-100k users rate in bursts whose order within a second is arbitrary).

Inputs: ``history`` [B, L] int64 (``recent_items``) and ``ages`` [B, L] float32
(``recent_age_s``: seconds from each item to the user's latest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from app.training import ease
from app.training.ease import AGE_FLOOR, AGE_SCALE_S
from app.training.itemsvd import ItemSvdParams
from app.training.sasrec import SasRec

__all__ = ["EASE_NEIGHBOURS", "EASE_WEIGHTS", "HYBRID_BLOCKS", "SVD_WEIGHTS", "Hybrid", "Parts",
           "age_weights", "neighbour_scores"]  # fmt: skip


SVD_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
EASE_WEIGHTS = (8.0, 12.0, 16.0, 24.0, 32.0, 48.0)
"""The weights tried on the validation split; training keeps the best pair."""

HYBRID_BLOCKS = 1
"""SASRec's blocks inside the hybrid. With one, serving computes one attention query per user
(the last position's) over 50 keys; with two, the first block attends over all 50 positions:
a batch of 256 took 5.7 ms against 21.6 ms (onnxruntime, one thread). Relevance is the same
within seed noise (ml-100k, seeds 0-2, test HR@10 / NDCG@10 mean and sd): one block (hybrid/3)
0.247 / 0.136 (0.010 / 0.006), two blocks (hybrid/2) 0.250 / 0.137 (0.004 / 0.002)."""
EASE_NEIGHBOURS = 25
"""EASE weights kept per item (the largest in magnitude). The dense product of a batch's
[batch, items] rows with B was 14 ms of hybrid/2's 49 ms per batch of 256 (and N x N memory);
the neighbours' scatter is B x L x 25 additions (1.6 ms). Validation NDCG@10 of a one-block
hybrid: dense 0.1557, 25 neighbours 0.1567, 50 0.1566, 100 0.1516."""


def age_weights(history: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
    """EASE's weight of each window position (``ease.input_weights``; padding 0)."""
    weight = AGE_FLOOR + (1.0 - AGE_FLOOR) * torch.exp(-ages / AGE_SCALE_S)
    return weight * (history > 0).to(weight.dtype)


def neighbour_scores(
    history: torch.Tensor, ages: torch.Tensor, near_idx: torch.Tensor, near_weight: torch.Tensor
) -> torch.Tensor:
    """EASE's scores [B, V] from each item's neighbours (``ease.neighbours``): each window
    item's neighbour weights times its age weight, added into the user's row (an item twice in
    the window counts twice; padding's neighbours are zeros)."""
    cols = near_idx[history].flatten(1)  # [B, L * M]
    adds = (near_weight[history] * age_weights(history, ages).unsqueeze(-1)).flatten(1)
    rows = torch.zeros(history.shape[0], near_idx.shape[0], dtype=adds.dtype)
    return rows.scatter_add(1, cols, adds)


@dataclass(frozen=True)
class Parts:
    """The fitted non-neural parts: ItemSVD's embeddings and bias, EASE's item weights."""

    svd_emb: npt.NDArray[np.float32]
    svd_bias: npt.NDArray[np.float32]
    ease: npt.NDArray[np.float32]


class Hybrid(nn.Module):
    """(history [B, L] int64, ages [B, L] float32) -> scores [B, V] float32."""

    INPUTS = {"history": "recent_items", "ages": "recent_age_s"}
    """Graph input -> the stream's feature builder, in the order ``forward`` takes them."""

    svd_emb: torch.Tensor
    svd_bias: torch.Tensor
    recency: torch.Tensor
    near_idx: torch.Tensor
    near_weight: torch.Tensor

    def __init__(
        self,
        sasrec: SasRec,
        parts: Parts,
        svd: ItemSvdParams,
        svd_weight: float,
        ease_weight: float,
        neighbours: int = EASE_NEIGHBOURS,
    ) -> None:
        super().__init__()
        self.sasrec = sasrec
        self.parts = parts
        """The fitted parts as fitted (EASE dense: ``hybrid_rank`` factorises it)."""
        self.svd_len = svd.max_len
        self.svd_weight, self.ease_weight = svd_weight, ease_weight
        self.register_buffer("svd_emb", torch.from_numpy(parts.svd_emb))
        self.register_buffer("svd_bias", torch.from_numpy(parts.svd_bias))
        self.register_buffer("recency", torch.from_numpy(svd.recency_weights()))
        near_idx, near_weight = ease.neighbours(parts.ease, neighbours)
        self.register_buffer("near_idx", torch.from_numpy(near_idx))
        self.register_buffer("near_weight", torch.from_numpy(near_weight))

    def item_svd(self, history: torch.Tensor) -> torch.Tensor:
        """ItemSVD's scores, term for term as ``itemsvd.reference_scores``."""
        recent = history[:, -self.svd_len :]
        w = (recent > 0).to(self.svd_emb.dtype) * self.recency
        user = (self.svd_emb[recent] * w.unsqueeze(-1)).sum(dim=1)
        user = user / w.sum(dim=1, keepdim=True).clamp_min(1e-6)
        out: torch.Tensor = user @ self.svd_emb.T + self.svd_bias
        return out

    def forward(self, history: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        sasrec = torch.log_softmax(self.sasrec(history), dim=-1)
        ease = neighbour_scores(history, ages, self.near_idx, self.near_weight)
        mixed = sasrec + self.svd_weight * self.item_svd(history) + self.ease_weight * ease
        # Cold start: a user with no item the model knows gets the training popularity order
        # (ItemSVD's prior), not what SASRec makes of an all-padding window.
        known = (history > 0).any(dim=1, keepdim=True)
        out: torch.Tensor = torch.where(known, mixed, self.svd_bias.expand_as(mixed))
        return out
