"""Rank users offline the way serving ranks a two-tower version with a ranker.

Serving (``app.inference``) retrieves, per user, the top ``candidates + len(seen)`` items by
inner product of the version's ``query`` with its item vectors (an ANN index), drops the seen
ones, and orders the rest by the ranker graph's scores. Here retrieval is exact (a product
with every item vector): the upper bound of what an index with recall below 1 serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from app.features.builders import build_inputs
from app.features.state import UserFeatureState, seen_coordinates
from app.inference.manifest import MANIFEST_FILE, ModelManifest
from app.inference.scorer import Inputs
from app.records import ScoredItem
from app.training.evaluate import History, per_user, summarise

__all__ = ["TwoStageVersion", "candidates_of", "two_stage_metrics"]


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def candidates_of(
    query: npt.NDArray[np.float32],
    vectors: npt.NDArray[np.float32],
    seen: Sequence[npt.NDArray[np.int64]],
    count: int,
) -> npt.NDArray[np.int64]:
    """Per row, the unseen items among the top ``count + len(seen)`` by inner product, as
    score columns (item i + 1), best first, right-padded with 0: [B, C']."""
    ip = query @ vectors.T  # [B, N]: column j is item column j + 1
    rows: list[npt.NDArray[np.int64]] = []
    for b, cols in enumerate(seen):
        n = min(count + len(cols), ip.shape[1])
        top = np.argpartition(-ip[b], n - 1)[:n] if n < ip.shape[1] else np.arange(n)
        top = top[np.lexsort((top, -ip[b, top]))] + 1
        rows.append(top[~np.isin(top, cols)])
    out = np.zeros((len(rows), max((len(r) for r in rows), default=0)), dtype=np.int64)
    for b, row in enumerate(rows):
        out[b, : len(row)] = row
    return out


class TwoStageVersion:
    """A version directory's query graph, item vectors and ranker, ranking like serving."""

    def __init__(self, version_dir: Path) -> None:
        raw: dict[str, Any] = msgspec.json.decode((version_dir / MANIFEST_FILE).read_bytes())
        self.manifest = msgspec.convert(raw, ModelManifest)
        self.retrieval: dict[str, Any] = raw["retrieval"]
        self.ranker_spec: dict[str, Any] = raw["ranker"]
        items = msgspec.json.decode((version_dir / self.manifest.items_file).read_bytes())
        self.items: list[str] = ["", *(str(i) for i in items)]
        self.vocab: dict[str, int] = {item: i for i, item in enumerate(self.items) if i}
        self.vectors = np.load(version_dir / self.retrieval["item_vectors_file"])
        self.query = _session(version_dir / self.manifest.model_file)
        self.ranker = _session(version_dir / self.ranker_spec["model_file"])

    def queries(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        """The query graph's output for a batch."""
        return np.asarray(self.query.run(["query"], dict(inputs))[0], dtype=np.float32)

    def rank(self, states: Sequence[UserFeatureState], k: int) -> list[list[ScoredItem]]:
        """Top-``k`` unseen items per state, with the ranker's scores."""
        spec = self.manifest.feature_spec
        inputs = build_inputs(states, spec.builders(self.manifest.inputs), self.vocab, spec.max_len)
        rows, cols = seen_coordinates([s.seen for s in states], self.vocab)
        seen = np.split(cols, np.cumsum(np.bincount(rows, minlength=len(states)))[:-1])
        cands = candidates_of(
            self.queries(inputs), self.vectors, seen, int(self.ranker_spec["candidates"])
        )
        scores = self.ranker.run(["scores"], {**inputs, "candidates": cands})[0]
        order = np.lexsort((cands, -scores), axis=1)[:, :k]
        names = np.asarray(self.items, dtype=object)[np.take_along_axis(cands, order, axis=1)]
        vals = np.take_along_axis(scores, order, axis=1)
        return [
            [ScoredItem(n, float(v)) for n, v in zip(row_n, row_v, strict=True) if v > -np.inf]
            for row_n, row_v in zip(names.tolist(), vals.tolist(), strict=True)
        ]


def two_stage_metrics(
    version: TwoStageVersion,
    histories: Mapping[str, History],
    targets: Mapping[str, str],
    *,
    k: int = 10,
    batch_size: int = 256,
) -> dict[str, float]:
    """HR@k, NDCG@k, MRR@k as ``evaluate.ranking_metrics``, ranked as serving ranks."""
    users = [u for u in targets if u in histories]
    ranked: dict[str, list[str]] = {}
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        states = [_state(histories[u]) for u in chunk]
        for user, row in zip(chunk, version.rank(states, k), strict=True):
            ranked[user] = [i.item_id for i in row]
    return summarise(per_user(ranked, targets), k)


def _state(history: History) -> UserFeatureState:
    if isinstance(history, UserFeatureState):
        return history
    return UserFeatureState(recent=tuple(history), seen=tuple(history))
