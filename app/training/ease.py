"""EASE (Steck, 2019): a closed-form item-item model, the ridge regression of each item's
column on all the others with a zero diagonal. Seconds with numpy for ml-100k's 1682 items.

It reads a user as a set of items (no order), which complements the order-aware models in
``training.hybrid``; but a set weighted by time. Two choices, both made on the validation
split with EASE alone (NDCG@10 0.094 with a user's whole history as one row and as the input):
- fit on **windows** of ``WINDOW`` consecutive items of each timeline (every ``STRIDE``
  items), so it learns which items are rated *together*, not merely by the same user;
- read a user's items weighted by their **age** before the latest one
  (``input_weights``): 93% of held-out items come within an hour of the item before them.
Together: 0.139. Age alone 0.127, windows of 30-60 items 0.134-0.139, sessions cut at 30
minutes' silence 0.134 (no better than plain windows, and one more parameter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["AGE_FLOOR", "AGE_SCALE_S", "DEFAULT_L2", "STRIDE", "WINDOW", "fit", "input_weights",
           "neighbours", "windows"]  # fmt: skip


DEFAULT_L2 = 200.0
"""Picked on the validation split among 100, 200 and 400 (flat between them)."""
WINDOW = 40
STRIDE = 20
AGE_SCALE_S = 150.0
AGE_FLOOR = 0.1
"""An item ``age`` seconds older than the user's latest counts ``AGE_FLOOR + (1 - AGE_FLOOR)
* exp(-age / AGE_SCALE_S)``: fully within the current burst of ratings, a tenth long after.
Picked on validation among 60-600 s and 0.05-0.2."""


def windows(
    sequences: Sequence[Sequence[str]], size: int = WINDOW, stride: int = STRIDE
) -> list[list[str]]:
    """Each sequence cut into overlapping runs of ``size`` consecutive items, every ``stride``
    items (a sequence no longer than ``size`` is one run): the rows ``fit`` learns from."""
    out: list[list[str]] = []
    for seq in sequences:
        for start in range(0, max(1, len(seq) - size + stride), stride):
            out.append(list(seq[start : start + size]))
    return out


def fit(
    rows: Sequence[Sequence[str]], vocab: Mapping[str, int], l2: float = DEFAULT_L2
) -> npt.NDArray[np.float32]:
    """Item-item weights B [V, V] (row/column 0 = padding, zeros) from rows of items that go
    together (``windows`` of timelines): a user's scores are the weighted sum of B's rows of
    their items."""
    size = len(vocab) + 1
    x = np.zeros((len(rows), size))
    for row, seq in enumerate(rows):
        x[row, [vocab[i] for i in seq if i in vocab]] = 1.0
    gram = x.T @ x + l2 * np.eye(size)
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0.0)
    weights[0, :] = weights[:, 0] = 0.0
    return weights.astype(np.float32)


def input_weights(ages: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """How much each item of a window counts, from its age in seconds before the latest item
    (the ``recent_age_s`` input); ``training.hybrid`` computes the same in its graph."""
    return np.asarray(AGE_FLOOR + (1.0 - AGE_FLOOR) * np.exp(-ages / AGE_SCALE_S), np.float32)


def neighbours(
    weights: npt.NDArray[np.float32], m: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's ``m`` largest weights in magnitude: (columns, weights), both [V, m]. A
    user's scores from these are B applied sparsely: ``m`` additions per item, not ``V``."""
    m = min(m, weights.shape[1] - 1)
    idx = np.argpartition(-np.abs(weights), m, axis=1)[:, :m].astype(np.int64)
    return idx, np.take_along_axis(weights, idx, axis=1).astype(np.float32)
