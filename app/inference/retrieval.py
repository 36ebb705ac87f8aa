"""Retrieval over a two-tower version's item vectors: an HNSW index (usearch), or every item.

Columns are score-matrix columns throughout: item ``items[i]`` is column i + 1 and row i of the
vectors; column 0 is padding (no candidate). The index finds candidates; their scores are
always exact inner products, so the index only decides *which* items are looked at.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from usearch.index import BatchMatches, Index

from app.errors import ModelLoadError
from app.settings.retrieval import RetrievalSettings

__all__ = ["Columns", "ItemIndex", "Vectors", "exact_scores", "load_vectors"]

logger = logging.getLogger(__name__)

Columns = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]

# Progress lines while a large index builds: about every tenth of it.
_PROGRESS_STEPS = 10


def load_vectors(path: Path, n_items: int) -> Vectors:
    """The item vectors, float32 [n_items, D], all finite, or why not."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read item vectors {path}: {exc}") from exc
    if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != n_items:
        raise ModelLoadError(
            f"{path}: item vectors are {vectors.dtype} {list(vectors.shape)}, expected float32 "
            f"[{n_items}, D]: one row per entry of the items file, in its order"
        )
    if not np.isfinite(vectors).all():
        raise ModelLoadError(f"{path}: item vectors hold NaN or infinite values")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def exact_scores(queries: Vectors, vectors: Vectors, columns: Columns) -> Vectors:
    """Inner product of each row's query with each of its candidate columns (0: -inf)."""
    gathered = vectors[np.maximum(columns, 1) - 1]  # [B, C, D]
    scores: Vectors = np.matmul(gathered, queries[:, :, None])[:, :, 0]  # batched, BLAS
    scores[columns == 0] = -np.inf
    return scores


def _threads(n: int) -> int:
    return n or os.cpu_count() or 1


class ItemIndex:
    """HNSW over the item vectors, inner product; keys are score columns."""

    def __init__(self, index: Index, n_items: int) -> None:
        self._index = index
        self.n_items = n_items

    @classmethod
    def build(
        cls, vectors: Vectors, settings: RetrievalSettings, label: str = "index"
    ) -> ItemIndex:
        """Index every item vector; logs progress (a million items take minutes)."""
        index = Index(
            ndim=vectors.shape[1], metric="ip", dtype="f32",
            connectivity=settings.retrieval_connectivity,
            expansion_add=settings.retrieval_expansion_add,
            expansion_search=settings.retrieval_expansion_search,
        )  # fmt: skip
        n, started = len(vectors), time.monotonic()
        logger.info("%s: building an HNSW index over %d item vectors (%d dims)",
                    label, n, vectors.shape[1])  # fmt: skip
        # In tenths, to log progress between them (a million items take minutes).
        step = max(-(-n // _PROGRESS_STEPS), 1)
        threads = _threads(settings.retrieval_build_threads)
        for first in range(0, n, step):
            last = min(first + step, n)
            keys = np.arange(first + 1, last + 1, dtype=np.uint64)
            index.add(keys, vectors[first:last], threads=threads)
            if last < n:
                logger.info("%s: %d of %d items indexed (%.0f s)",
                            label, last, n, time.monotonic() - started)  # fmt: skip
        logger.info("%s: index of %d items built in %.1f s (%.0f MiB)", label, n,
                    time.monotonic() - started, index.memory_usage / 2**20)  # fmt: skip
        return cls(index, n)

    @classmethod
    def load(cls, path: Path, vectors: Vectors, settings: RetrievalSettings) -> ItemIndex:
        """A prebuilt index file, checked against the vectors it must index."""
        if not path.is_file():
            raise ModelLoadError(
                f"{path}: the manifest's retrieval.index_file is not there: prebuild it with "
                f"`faust -A app index`, or remove index_file to build the index at load"
            )
        try:
            index = Index.restore(str(path))
        except Exception as exc:  # usearch raises plain RuntimeError/ValueError
            raise ModelLoadError(f"cannot read index {path}: {exc}") from exc
        if index is None or index.ndim != vectors.shape[1] or len(index) != len(vectors):
            found = "nothing" if index is None else f"{len(index)} x {index.ndim}"
            raise ModelLoadError(
                f"{path}: the index holds {found}, the item vectors are "
                f"{len(vectors)} x {vectors.shape[1]}: rebuild it with "
                f"`faust -A app index` (or remove retrieval.index_file from the manifest)"
            )
        if str(index.metric_kind).rsplit(".", 1)[-1].lower() != "ip":
            raise ModelLoadError(f"{path}: the index is not inner product: rebuild it")
        # usearch's setter has no annotations, so mypy sees a read-only property.
        index.expansion_search = settings.retrieval_expansion_search  # type: ignore[misc]
        logger.info("loaded index %s (%d items)", path, len(index))
        return cls(index, len(vectors))

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (the caller renames it into place)."""
        self._index.save(str(path))

    def search(self, queries: Vectors, count: int, threads: int = 1) -> Columns:
        """Top ``count`` columns per query by the index, 0 where it found fewer."""
        count = min(count, self.n_items)
        found = self._index.search(queries, count, threads=_threads(threads))
        out = np.zeros((len(queries), count), dtype=np.int64)
        if not isinstance(found, BatchMatches):  # usearch answers one query with a Matches
            out[0, : len(found.keys)] = found.keys
            return out
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)[:, :count]
        filled = np.arange(keys.shape[1])[None, :] < np.asarray(found.counts).reshape(-1, 1)
        out[:, : keys.shape[1]] = np.where(filled, keys, 0)
        return out
