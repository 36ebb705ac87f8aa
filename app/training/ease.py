"""EASE (Steck, 2019): a closed-form item-item model, the ridge regression of each item's
column on all the others with a zero diagonal. Seconds with numpy for ml-100k's 1682 items.

It reads a user as the set of their recent items (no order): it complements the
order-aware models in ``training.hybrid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_L2", "fit"]


DEFAULT_L2 = 200.0
"""Picked on the validation split among 100, 200 and 500 (flat between them)."""


def fit(
    sequences: Sequence[Sequence[str]], vocab: Mapping[str, int], l2: float = DEFAULT_L2
) -> npt.NDArray[np.float32]:
    """Item-item weights B [V, V] (row/column 0 = padding, zeros): a user's scores are the
    sum of B's rows of their items."""
    size = len(vocab) + 1
    x = np.zeros((len(sequences), size))
    for row, seq in enumerate(sequences):
        x[row, [vocab[i] for i in seq if i in vocab]] = 1.0
    gram = x.T @ x + l2 * np.eye(size)
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0.0)
    weights[0, :] = weights[:, 0] = 0.0
    return weights.astype(np.float32)
