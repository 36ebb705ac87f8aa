"""A two-tower version: a query graph, its item vectors, retrieval, and an optional ranker.

The stream never makes a [batch, n_items] matrix for it: ``rank`` asks the index for each
row's top (k + seen) columns in one batched search, scores those exactly, and masks what the
user has seen. Below ``retrieval_exhaustive_below`` items every item is scored exactly instead
(as fast there, and it never misses).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.errors import ModelLoadError
from app.features.builders import build_inputs
from app.features.state import state_from_items
from app.inference.batcher import ModelBatch, Ranked, merge, top_k
from app.inference.ranking import RankerGraph, best_first
from app.inference.retrieval import ItemIndex, exact_scores, load_vectors
from app.inference.scorer import Inputs, OnnxScorer, run_batch
from app.settings.retrieval import RetrievalSettings

__all__ = ["TwoTowerScorer"]

logger = logging.getLogger(__name__)

# Rows that have seen more than this many items are searched apart, so that one heavy user
# does not make every row of the batch ask the index for thousands of candidates.
_HEAVY_SEEN = 64


class TwoTowerScorer(OnnxScorer):
    """Query graph + item vectors (+ ANN index above the exhaustive threshold, + ranker)."""

    def __init__(
        self, version_dir: Path, *, threads: int = 1, retrieval: RetrievalSettings
    ) -> None:
        super().__init__(version_dir, threads=threads)
        spec = self.manifest.retrieval
        assert spec is not None  # read_manifest: a query output comes with its retrieval
        self.settings = retrieval
        self.vectors = load_vectors(version_dir / spec.item_vectors_file, len(self.items) - 1)
        self._check_dims()
        self.index: ItemIndex | None = None
        """Set by ``prepare`` unless the catalog is below the exhaustive threshold."""
        ranker = self.manifest.ranker
        self.ranker = None if ranker is None else RankerGraph(version_dir, ranker, self, threads)

    @property
    def exhaustive(self) -> bool:
        """Whether every item is scored (small catalog) rather than retrieved."""
        return len(self.vectors) < self.settings.retrieval_exhaustive_below

    def _check_dims(self) -> None:
        width = self.manifest.outputs[0].shape[-1]
        if isinstance(width, int) and width > 0 and width != self.vectors.shape[1]:
            raise ModelLoadError(
                f"{self.path}: the manifest's query is {width}-dimensional, the item vectors "
                f"are {self.vectors.shape[1]}: export both towers with the same dimension"
            )

    def prepare(self) -> None:
        """Load the version's index file, or build the index (blocking: call on a thread)."""
        spec = self.manifest.retrieval
        if self.exhaustive or spec is None:
            return
        label = f"{self.name}/{self.version}"
        if spec.index_file is not None:
            self.index = ItemIndex.load(self.path / spec.index_file, self.vectors, self.settings)
        else:
            self.index = ItemIndex.build(self.vectors, self.settings, label)

    def query(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        """The query vector of each row, [batch, D]."""
        return run_batch(self.session, self._output, inputs)

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        """Exact inner products with every item, [batch, n_items + 1] (evaluation and tests;
        the stream ranks with ``rank``)."""
        return self._every_item(self.query(inputs))

    def _every_item(self, queries: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """[batch, n_items + 1] inner products, column 0 (padding) -inf."""
        scores = np.empty((len(queries), len(self.items)), dtype=np.float32)
        scores[:, 0] = -np.inf
        np.matmul(queries, self.vectors.T, out=scores[:, 1:])
        return scores

    def rank(self, batch: ModelBatch, k: int) -> Ranked:
        """Top-``k`` unseen columns per row: retrieval, then the ranker if the version has one."""
        queries = self.query(batch.inputs)
        if self.ranker is None:
            return self.retrieve(queries, batch, k)
        columns, _ = self.retrieve(queries, batch, self.ranker.candidates)
        return best_first(columns, self.ranker.score(batch.inputs, columns), k)

    async def rank_async(self, batch: ModelBatch, k: int) -> Ranked:
        """``rank`` on the scorer's thread, so the event loop keeps serving."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.rank, batch, k)

    def retrieve(self, queries: npt.NDArray[np.float32], batch: ModelBatch, n: int) -> Ranked:
        """The ``n`` unseen columns of highest inner product per row, exact scores."""
        if self.index is None:
            return top_k(self._every_item(queries), batch.mask_rows, batch.mask_cols, n)
        seen = np.bincount(batch.mask_rows, minlength=len(queries))
        heavy = seen > _HEAVY_SEEN
        columns = np.zeros((len(queries), n + int(seen.max(initial=0))), dtype=np.int64)
        for rows in (np.nonzero(~heavy)[0], np.nonzero(heavy)[0]):
            if len(rows):
                wanted = n + int(seen[rows].max())
                found = self.index.search(queries[rows], wanted, self.settings.retrieval_threads)
                columns[rows, : found.shape[1]] = found
        columns[self._seen_cells(columns, batch)] = 0
        return best_first(columns, exact_scores(queries, self.vectors, columns), n)

    def _seen_cells(
        self, columns: npt.NDArray[np.int64], batch: ModelBatch
    ) -> npt.NDArray[np.bool_]:
        """Which candidate cells are items their row's user has seen."""
        width = len(self.items)
        cells = np.arange(len(columns))[:, None] * width + columns
        return np.isin(cells, batch.mask_rows * width + batch.mask_cols)

    def warm_up(self) -> None:
        """Prepare the index, then check the query's shape and values and a full ranking."""
        self.prepare()
        items, dims = self.items[1:], self.vectors.shape[1]
        for size in (1, 8, 64):
            states = [state_from_items(items[n % len(items) :][:3]) for n in range(size)]
            inputs = build_inputs(
                states, self.builders, self.vocab, self.manifest.feature_spec.max_len
            )
            queries = self.query(inputs)
            if queries.shape != (size, dims):
                raise ModelLoadError(
                    f"{self.path}: the query graph gives {list(queries.shape)} for {size} "
                    f"users, expected [{size}, {dims}] (the item vectors' dimension)"
                )
            if not np.isfinite(queries).all():
                raise ModelLoadError(f"{self.path}: warm-up produced non-finite query vectors")
            columns, scores = self.rank(merge(states, self), 10)
            if not (columns[:, 0] > 0).all() or not np.isfinite(scores[columns > 0]).all():
                raise ModelLoadError(f"{self.path}: warm-up ranked non-finite scores")
        mode = "exhaustive" if self.index is None else "ANN index"
        logger.info("%s/%s: %d items, %d-dim vectors, %s retrieval%s", self.name, self.version,
                    len(items), dims, mode, "" if self.ranker is None else " + ranker")  # fmt: skip
