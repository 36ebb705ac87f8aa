"""The optional ranking stage of a two-tower version: a graph that scores its candidates.

Its inputs are the version's own (same names, same feature builders) plus ``candidates``
INT64 [batch, C] (score columns, 0 = padding); its output ``scores`` FP32 [batch, C].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.errors import ModelLoadError
from app.inference.manifest import RankerSpec
from app.inference.scorer import Inputs, OnnxScorer, open_session, run_batch

__all__ = ["CANDIDATES_INPUT", "SCORES_OUTPUT", "RankerGraph", "best_first"]

CANDIDATES_INPUT = "candidates"
SCORES_OUTPUT = "scores"


def best_first(
    columns: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` best (column, score) per row, equal scores by column; padding (0) last."""
    scores = np.where(columns > 0, scores, -np.inf).astype(np.float32, copy=False)
    order = np.lexsort((columns, -scores), axis=1)[:, :k]
    best = np.take_along_axis(columns, order, axis=1)
    vals = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isfinite(vals), best, 0), vals


class RankerGraph:
    """An onnxruntime session over (the version's inputs, candidates) -> scores."""

    def __init__(
        self, version_dir: Path, spec: RankerSpec, owner: OnnxScorer, threads: int
    ) -> None:
        self.path = version_dir / spec.model_file
        self.candidates = spec.candidates
        self.session = open_session(self.path, threads)
        wanted = {t.name: t.datatype for t in owner.manifest.inputs}
        wanted[CANDIDATES_INPUT] = "INT64"
        types = {"INT64": "tensor(int64)", "FP32": "tensor(float)"}
        got = {i.name: i.type for i in self.session.get_inputs()}
        outputs = {o.name: o.type for o in self.session.get_outputs()}
        if got != {name: types[kind] for name, kind in wanted.items()}:
            raise ModelLoadError(
                f"{self.path}: ranker inputs {got}, expected the version's inputs plus "
                f"{CANDIDATES_INPUT!r} INT64 [batch, C]: {wanted}"
            )
        if outputs.get(SCORES_OUTPUT) != "tensor(float)":
            raise ModelLoadError(
                f"{self.path}: ranker outputs {outputs}, expected {SCORES_OUTPUT!r} FP32 [batch, C]"
            )

    def score(self, inputs: Inputs, columns: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The ranker's score of each candidate column, [batch, C]."""
        scores = run_batch(self.session, SCORES_OUTPUT, {**inputs, CANDIDATES_INPUT: columns})
        if scores.shape != columns.shape:
            raise ModelLoadError(
                f"{self.path}: ranker scores are {list(scores.shape)} for candidates "
                f"{list(columns.shape)}: one score per candidate"
            )
        return scores
