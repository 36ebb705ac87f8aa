"""Retrieval over a two-tower version's item vectors: an ANN index (IVF or HNSW), or every item.

Columns are score-matrix columns throughout: item ``items[i]`` is column i + 1 and row i of the
vectors; column 0 is padding (no candidate). The index finds candidates; their scores are
always exact inner products, so the index only decides *which* items are looked at.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.errors import ModelLoadError
from app.inference.hnsw_index import HnswIndex
from app.inference.ivf_index import IvfIndex
from app.settings.retrieval import RetrievalSettings

__all__ = ["INDEX_FILES", "Columns", "ItemIndex", "Vectors", "exact_scores", "load_vectors"]

logger = logging.getLogger(__name__)

Columns = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]

_ENGINES: dict[str, type[IvfIndex] | type[HnswIndex]] = {"ivf": IvfIndex, "hnsw": HnswIndex}
INDEX_FILES = {"ivf": "item_vectors.faiss", "hnsw": "item_vectors.usearch"}
"""A prebuilt index's name in the version directory, by kind: the suffix says the kind."""


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
    """The ANN index over the item vectors, of the kind STREAMREC_RETRIEVAL_INDEX names."""

    def __init__(self, engine: IvfIndex | HnswIndex) -> None:
        self._engine = engine
        self.n_items = engine.n_items
        self.kind = engine.kind
        """``ivf`` or ``hnsw``."""

    @property
    def file_name(self) -> str:
        """The name a prebuilt file of this index takes in the version directory."""
        return INDEX_FILES[self.kind]

    @classmethod
    def build(
        cls, vectors: Vectors, settings: RetrievalSettings, label: str = "index"
    ) -> ItemIndex:
        """Index every item vector; logs progress (a million items take minutes)."""
        engine = _ENGINES[settings.retrieval_index]
        threads = _threads(settings.retrieval_build_threads)
        return cls(engine.build(vectors, settings, label, threads))

    @classmethod
    def load(cls, path: Path, vectors: Vectors, settings: RetrievalSettings) -> ItemIndex:
        """A prebuilt index file (its suffix says its kind), checked against the vectors."""
        if not path.is_file():
            raise ModelLoadError(
                f"{path}: the manifest's retrieval.index_file is not there: prebuild it with "
                f"`faust -A app index`, or remove index_file to build the index at load"
            )
        kinds = {Path(name).suffix: kind for kind, name in INDEX_FILES.items()}
        kind = kinds.get(path.suffix)
        if kind is None:
            raise ModelLoadError(
                f"{path}: not an index file streamrec reads (.faiss or .usearch): rebuild it "
                f"with `faust -A app index`"
            )
        index = cls(_ENGINES[kind].load(path, vectors, settings))
        if kind != settings.retrieval_index:
            # Serve it rather than refuse the version: a worker upgraded under versions
            # prebuilt as HNSW keeps serving them; the operator rebuilds when convenient.
            logger.warning("%s is a %s index, STREAMREC_RETRIEVAL_INDEX is %s: serving it as "
                           "it is; rebuild it with `faust -A app index` to change",
                           path, kind, settings.retrieval_index)  # fmt: skip
        logger.info("loaded %s index %s (%d items)", kind, path, index.n_items)
        return index

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (the caller renames it into place)."""
        self._engine.save(path)

    def search(self, queries: Vectors, count: int, threads: int = 1) -> Columns:
        """Top ``count`` columns per query by the index, 0 where it found fewer."""
        count = min(count, self.n_items)
        return self._engine.search(queries, count, _threads(threads))
