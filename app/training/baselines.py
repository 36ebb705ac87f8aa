"""Reference recommenders for offline evaluation, behind the same ``Scorer`` interface."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from app.inference.manifest import FeatureSpec, ModelManifest, TensorSpec
from app.inference.scorer import Inputs

__all__ = ["MostPopular", "TransitionPopular"]


class _Baseline:
    """Vocabulary and popularity counts shared by the baselines."""

    name = "baseline"
    version = "-"

    def __init__(self, catalogue: Sequence[str], sequences: Sequence[Sequence[str]]) -> None:
        self.items = ["", *catalogue]
        self.vocab = {item: i for i, item in enumerate(self.items) if i}
        self.manifest = ModelManifest(
            name=self.name, version=self.version, inputs=[TensorSpec("history", "INT64", [-1, 1])],
            outputs=[], feature_spec=FeatureSpec(max_len=1),
        )  # fmt: skip
        size = len(self.items)
        self.popularity = np.zeros(size, dtype=np.float32)
        for seq in sequences:
            for item in seq:
                self.popularity[self.vocab[item]] += 1
        self._fit(sequences)

    def _fit(self, sequences: Sequence[Sequence[str]]) -> None:
        pass

    async def score_async(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        return self.score(inputs)

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        raise NotImplementedError


class MostPopular(_Baseline):
    """Items by how often they were interacted with in training."""

    name = "most-popular"

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        rows = len(inputs["history"])
        return np.broadcast_to(self.popularity, (rows, len(self.items))).copy()


class TransitionPopular(_Baseline):
    """Items that most often followed the user's last item, then by popularity."""

    name = "last-item-transition+pop"

    def _fit(self, sequences: Sequence[Sequence[str]]) -> None:
        size = len(self.items)
        self.transitions = np.zeros((size, size), dtype=np.float32)
        for seq in sequences:
            idx = [self.vocab[i] for i in seq]
            np.add.at(self.transitions, (idx[:-1], idx[1:]), 1.0)

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        # Popularity scaled below one transition: it only orders items with equal counts.
        tie_break = self.popularity / (self.popularity.max() + 1.0)
        last = inputs["history"][:, -1]
        return np.asarray(self.transitions[last] + tie_break[None, :], np.float32)
