"""The HNSW engine of retrieval (usearch, inner product): a graph over the item vectors.

Fast on item vectors that are not strongly clustered; on clustered ones its beam search stays
in the cluster it enters, so a query between two clusters (a user of two tastes) misses the
other's items unless ``expansion_search`` exceeds a cluster's size (see the IVF engine).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from usearch.index import BatchMatches, Index

from app.errors import ModelLoadError
from app.settings.retrieval import RetrievalSettings

__all__ = ["HnswIndex"]

logger = logging.getLogger(__name__)

# Progress lines while a large index builds: about every tenth of it.
_PROGRESS_STEPS = 10


class HnswIndex:
    """HNSW over the item vectors, inner product; keys are score columns."""

    kind = "hnsw"

    def __init__(self, index: Index, n_items: int) -> None:
        self._index = index
        self.n_items = n_items

    @classmethod
    def build(
        cls, vectors: npt.NDArray[np.float32], settings: RetrievalSettings, label: str,
        threads: int,
    ) -> HnswIndex:  # fmt: skip
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
        step = max(-(-n // _PROGRESS_STEPS), 1)
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
    def load(
        cls, path: Path, vectors: npt.NDArray[np.float32], settings: RetrievalSettings
    ) -> HnswIndex:
        """A prebuilt usearch file, checked against the vectors it must index."""
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
        return cls(index, len(vectors))

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""
        self._index.save(str(path))

    def search(
        self, queries: npt.NDArray[np.float32], count: int, threads: int
    ) -> npt.NDArray[np.int64]:
        """Top ``count`` columns per query, 0 where it found fewer (``count`` <= n_items)."""
        found = self._index.search(queries, count, threads=threads)
        out = np.zeros((len(queries), count), dtype=np.int64)
        if not isinstance(found, BatchMatches):  # usearch answers one query with a Matches
            out[0, : len(found.keys)] = found.keys
            return out
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)[:, :count]
        filled = np.arange(keys.shape[1])[None, :] < np.asarray(found.counts).reshape(-1, 1)
        out[:, : keys.shape[1]] = np.where(filled, keys, 0)
        return out
