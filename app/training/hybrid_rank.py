"""The hybrid as two stages (#37): a query tower for retrieval, a ranker for the candidates.

The full hybrid (``training.hybrid``) scores every item: SASRec's log-probabilities, ItemSVD
and EASE (a dense items x items matrix). Split here, nothing is items x items:

- **retrieval**: ``query`` = ItemSVD's user vector x its weight, EASE's user row through a
  rank-``ease_rank`` factorisation of B, and 1 for ItemSVD's popularity bias; the item
  vectors hold the matching item factors. Inner products approximate the hybrid without
  SASRec, whose transformer then runs once per user, in the ranker. (SASRec's state in the
  query too finds every user's full-hybrid top 10 in 50 candidates, but a ranker reads the
  version's inputs, not the query, so the transformer would run twice.)
- **ranking**: the hybrid's score on the candidates only: SASRec's logits (its log_softmax
  normaliser is one constant per user: the order is the same), ItemSVD's, and EASE from each
  item's top ``neighbours`` weights (sparse). Padding candidates (0) score -inf.

CPU per batch of 256 (one thread; random weights of hybrid/2's shape, 400 candidates): the full
hybrid 43 / 160 / 560 ms at 1,683 / 5,000 / 10,000 items, the ranker 39 / 46 / 53 ms and the
query 1.3-1.9 ms. Half the ranker is SASRec. What still grows with the catalogue is EASE's
per-user row (``HybridRanker.ease``: [batch, items] floats for the scatter, 1.7 MB at ml-100k);
EASE's own fit (an items x items inverse) bounds the hybrid's catalogue before that does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from app.training.ease import neighbours
from app.training.hybrid import Hybrid, age_weights, neighbour_scores

__all__ = ["HybridQuery", "HybridRanker", "RankParams", "TwoStage", "ease_factors",
           "split_hybrid"]  # fmt: skip


@dataclass(frozen=True)
class RankParams:
    """How the hybrid is split; the defaults were picked on the validation split."""

    candidates: int = 400
    """Unseen candidates retrieval hands the ranker per user. Validation NDCG@10 of hybrid/2's
    weights, exact retrieval: 0.1528 at 200, 0.1533 at 400 (the full hybrid 0.1554); with 3%
    of candidates lost at random (an index's recall below 1): 0.1489 and 0.1517."""
    neighbours: int = 25
    """EASE weights kept per item (the largest in magnitude). Validation NDCG@10 at 400
    candidates: 0.1533 with 25, 0.1522 with 50, 0.1492 with 100, 0.1536 with 200 (within
    noise of each other; 25 is the cheapest scatter in the ranker)."""
    ease_rank: int = 64
    """Dimensions of EASE's part of the query: with 64, 97.7% of users get the full hybrid's
    top 10 from 200 candidates (EASE dense in the ranker), 95.5% with none."""


def ease_factors(
    ease: npt.NDArray[np.float32], rank: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(user side, item side), [V, rank] each: B ~= user @ item.T (truncated SVD)."""
    u, s, vt = np.linalg.svd(ease.astype(np.float64))
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(np.float32), (vt[:rank].T * root).astype(np.float32)


class HybridQuery(nn.Module):
    """(history [B, L] int64, ages [B, L] float32) -> query [B, D] float32."""

    svd_emb: torch.Tensor
    recency: torch.Tensor
    ease_user: torch.Tensor
    cold: torch.Tensor

    def __init__(self, hybrid: Hybrid, ease_user: npt.NDArray[np.float32]) -> None:
        super().__init__()
        self.svd_len, self.svd_weight = hybrid.svd_len, hybrid.svd_weight
        self.ease_weight = hybrid.ease_weight
        self.register_buffer("svd_emb", hybrid.svd_emb.clone())
        self.register_buffer("recency", hybrid.recency.clone())
        self.register_buffer("ease_user", torch.from_numpy(ease_user))
        cold = torch.zeros(self.svd_emb.shape[1] + ease_user.shape[1] + 1)
        cold[-1] = 1.0
        self.register_buffer("cold", cold)

    def svd_user(self, history: torch.Tensor) -> torch.Tensor:
        """ItemSVD's user vector (``Hybrid.item_svd`` before the product with the items)."""
        recent = history[:, -self.svd_len :]
        w = (recent > 0).to(self.svd_emb.dtype) * self.recency
        user = (self.svd_emb[recent] * w.unsqueeze(-1)).sum(dim=1)
        out: torch.Tensor = user / w.sum(dim=1, keepdim=True).clamp_min(1e-6)
        return out

    def forward(self, history: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        weight = age_weights(history, ages)
        ease = (self.ease_user[history] * weight.unsqueeze(-1)).sum(dim=1)
        one = torch.ones_like(weight[:, :1])
        query = torch.cat(
            [self.svd_weight * self.svd_user(history), self.ease_weight * ease, one], dim=1
        )
        # Cold start: no known item -> the bias dimension alone (the popularity order).
        known = (history > 0).any(dim=1, keepdim=True)
        out: torch.Tensor = torch.where(known, query, self.cold)
        return out


class HybridRanker(nn.Module):
    """(history, ages, candidates [B, C] int64) -> scores [B, C]: the hybrid on candidates."""

    svd_bias: torch.Tensor
    near_idx: torch.Tensor
    near_weight: torch.Tensor

    def __init__(
        self,
        hybrid: Hybrid,
        query: HybridQuery,
        neighbours: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]],
    ) -> None:
        super().__init__()
        self.sasrec, self.query = hybrid.sasrec, query
        self.svd_weight, self.ease_weight = hybrid.svd_weight, hybrid.ease_weight
        self.register_buffer("svd_bias", hybrid.svd_bias.clone())
        self.register_buffer("near_idx", torch.from_numpy(neighbours[0]))
        self.register_buffer("near_weight", torch.from_numpy(neighbours[1]))

    def ease(self, history: torch.Tensor, ages: torch.Tensor, candidates: torch.Tensor) -> (
        torch.Tensor
    ):  # fmt: skip
        """EASE on the candidates from the history items' neighbour lists: their weights are
        added into one row per user (scatter), which the candidates read (gather)."""
        rows = neighbour_scores(history, ages, self.near_idx, self.near_weight)
        return rows.gather(1, candidates)

    def forward(
        self, history: torch.Tensor, ages: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:
        last = self.sasrec.encode(history, last_only=True)[:, -1, :]  # [B, D]
        sasrec = (self.sasrec.item_emb(candidates) @ last.unsqueeze(-1)).squeeze(-1)
        user = self.query.svd_user(history)
        svd = (self.query.svd_emb[candidates] @ user.unsqueeze(-1)).squeeze(-1)
        bias = self.svd_bias[candidates]
        ease = self.ease(history, ages, candidates)
        mixed = sasrec + self.svd_weight * (svd + bias) + self.ease_weight * ease
        known = (history > 0).any(dim=1, keepdim=True)
        scores = torch.where(known, mixed, bias)
        out: torch.Tensor = scores.masked_fill(candidates == 0, float("-inf"))
        return out


@dataclass(frozen=True)
class TwoStage:
    """A hybrid split for serving: the query tower, the item vectors (row i = item i + 1,
    no padding row), the ranker."""

    query: HybridQuery
    item_vectors: npt.NDArray[np.float32]
    ranker: HybridRanker
    params: RankParams


def split_hybrid(hybrid: Hybrid, params: RankParams) -> TwoStage:
    """The query tower, item vectors and ranker of a trained hybrid."""
    ease = hybrid.parts.ease
    user, item = ease_factors(ease, params.ease_rank)
    query = HybridQuery(hybrid, user)
    svd_emb, bias = hybrid.svd_emb.numpy(), hybrid.svd_bias.numpy()
    vectors = np.concatenate([svd_emb, item, hybrid.svd_weight * bias[:, None]], axis=1)
    ranker = HybridRanker(hybrid, query, neighbours(ease, params.neighbours))
    return TwoStage(query, np.ascontiguousarray(vectors[1:], np.float32), ranker, params)
