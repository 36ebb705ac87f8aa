"""Hybrid: SASRec, ItemSVD and EASE scored in one ONNX graph (one model call per batch).

scores = SASRec's next-item log-probabilities + ``svd_weight`` x ItemSVD's scores (the last
``ItemSvdParams.max_len`` items of the history) + ``ease_weight`` x EASE's (the window as a
set of items, each weighted by its age before the latest: ``ease.input_weights``). The three
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

from app.training.ease import AGE_FLOOR, AGE_SCALE_S
from app.training.itemsvd import ItemSvdParams
from app.training.sasrec import SasRec

__all__ = ["EASE_WEIGHTS", "SVD_WEIGHTS", "Hybrid", "Parts"]


SVD_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
EASE_WEIGHTS = (8.0, 12.0, 16.0, 24.0, 32.0, 48.0)
"""The weights tried on the validation split; training keeps the best pair."""


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
    ease: torch.Tensor

    def __init__(
        self,
        sasrec: SasRec,
        parts: Parts,
        svd: ItemSvdParams,
        svd_weight: float,
        ease_weight: float,
    ) -> None:
        super().__init__()
        self.sasrec = sasrec
        self.svd_len = svd.max_len
        self.svd_weight, self.ease_weight = svd_weight, ease_weight
        self.register_buffer("svd_emb", torch.from_numpy(parts.svd_emb))
        self.register_buffer("svd_bias", torch.from_numpy(parts.svd_bias))
        self.register_buffer("recency", torch.from_numpy(svd.recency_weights()))
        self.register_buffer("ease", torch.from_numpy(parts.ease))

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
        # EASE: the window's items as a row of their age weights times B (row 0, padding, is
        # zeros). A product, not a gather-and-sum: that would hold [batch, max_len, items]
        # floats. An item twice in the window counts twice.
        weight = AGE_FLOOR + (1.0 - AGE_FLOOR) * torch.exp(-ages / AGE_SCALE_S)
        weight = weight * (history > 0).to(weight.dtype)
        items = torch.zeros(history.shape[0], self.ease.shape[0], dtype=self.ease.dtype)
        ease_scores = items.scatter_add(1, history, weight) @ self.ease
        mixed = sasrec + self.svd_weight * self.item_svd(history) + self.ease_weight * ease_scores
        # Cold start: a user with no item the model knows gets the training popularity order
        # (ItemSVD's prior), not what SASRec makes of an all-padding window.
        known = (history > 0).any(dim=1, keepdim=True)
        out: torch.Tensor = torch.where(known, mixed, self.svd_bias.expand_as(mixed))
        return out
