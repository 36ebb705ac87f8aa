"""A deterministic in-memory Scorer for tests of the code around the model."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.inference.manifest import FeatureSpec, ModelManifest, TensorSpec
from app.inference.scorer import Inputs


class FakeScorer:
    """Scores item ``last + 1`` highest, then ``last + 2``...: easy to predict by hand."""

    def __init__(
        self,
        items: list[str],
        max_len: int = 2,
        name: str = "fake",
        version: str = "1",
        reads_ratings: bool = False,
    ) -> None:
        self.name, self.version = name, version
        self.items = ["", *items]
        self.vocab = {item: i for i, item in enumerate(self.items) if i}
        self.manifest = ModelManifest(
            name=name,
            version=version,
            inputs=[TensorSpec("history", "INT64", [-1, max_len])]
            + ([TensorSpec("ratings", "FP32", [-1, max_len])] if reads_ratings else []),
            outputs=[TensorSpec("scores", "FP32", [-1, len(self.items)])],
            feature_spec=FeatureSpec(
                max_len=max_len,
                inputs={"history": "recent_items", "ratings": "recent_ratings"}
                if reads_ratings
                else {},
            ),
        )

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        n = len(self.items)
        last = inputs["history"][:, -1:]
        cols = np.arange(n)[None, :]
        return (-((cols - last - 1) % n)).astype(np.float32)

    async def score_async(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        return self.score(inputs)


class FailingScorer(FakeScorer):
    """Raises on every call, like a model whose graph does not run."""

    async def score_async(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        raise RuntimeError(f"{self.name}/{self.version} cannot score")
