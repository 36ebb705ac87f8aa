"""The IVF engine of retrieval (faiss ``IndexIVFFlat``, inner product): the default.

k-means splits the item vectors into lists; a query scores every list's centroid and then
every item of its ``probes`` best lists, exactly. Item vectors learned by a recommender are
clustered, and a user of several tastes has a query between clusters: IVF probes each of
those clusters, where a graph search stays in the first one it enters (measured on the
synthetic clustered catalogs: two-taste recall@10 0.99 at 100k items, HNSW 0.82 at the same
cost; see ``hnsw_index``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import ModelLoadError
from app.settings.retrieval import RetrievalSettings

# faiss's loader logs at INFO that it tried, and failed, to load its AVX-512 build before the
# AVX2 one: expected on most CPUs, alarming in a worker's log.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)
import faiss  # noqa: E402  (after the logger is quietened)

__all__ = ["IvfIndex", "auto_lists"]

logger = logging.getLogger(__name__)

_PROGRESS_STEPS = 10
# k-means trains on this many sampled vectors per list (faiss warns below 39): enough for
# stable centroids, and a million items train in a fraction of the time all of them take.
_TRAIN_PER_LIST = 64


def auto_lists(n_items: int) -> int:
    """Lists for ``n_items`` when ``retrieval_lists`` is 0: about sqrt(n), at least 1.

    A query costs ``lists + probes * n / lists`` inner products; at sqrt(n) lists and 6
    probes that is 7 x sqrt(n) (7,000 of a million), and each list is large enough that a
    cluster of learned item vectors spans a few lists, not dozens (measured: 4,096 lists at a
    million items needed twice the probes of 1,024 for less recall)."""
    return max(1, min(round(math.sqrt(n_items)), n_items // _TRAIN_PER_LIST or 1))


class IvfIndex:
    """Inverted lists over the item vectors, inner product; ids are score columns - 1."""

    kind = "ivf"

    def __init__(self, index: Any, n_items: int, probes: int) -> None:
        self._index = index
        self._ivf = faiss.extract_index_ivf(index)
        self._ivf.nprobe = probes
        self.n_items = n_items

    @classmethod
    def build(
        cls, vectors: npt.NDArray[np.float32], settings: RetrievalSettings, label: str,
        threads: int,
    ) -> IvfIndex:  # fmt: skip
        """Train the lists on a sample, then add every item vector; logs progress."""
        n, dims = vectors.shape
        lists = min(settings.retrieval_lists or auto_lists(n), n)
        faiss.omp_set_num_threads(threads)  # this thread's OpenMP threads only
        started = time.monotonic()
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dims), dims, lists,
                                   faiss.METRIC_INNER_PRODUCT)  # fmt: skip
        sample = min(n, _TRAIN_PER_LIST * lists)
        logger.info("%s: building an IVF index over %d item vectors (%d dims): k-means of %d "
                    "lists on %d of them", label, n, dims, lists, sample)  # fmt: skip
        rng = np.random.default_rng(0)  # the same version always builds the same index
        index.train(vectors[np.sort(rng.choice(n, sample, replace=False))])
        step = max(-(-n // _PROGRESS_STEPS), 1)
        for first in range(0, n, step):
            index.add(vectors[first : first + step])  # ids continue from ntotal: 0..n-1
            if first + step < n:
                logger.info("%s: %d of %d items indexed (%.0f s)", label, first + step, n,
                            time.monotonic() - started)  # fmt: skip
        logger.info("%s: index of %d items built in %.1f s (%d lists, %.0f MiB)", label, n,
                    time.monotonic() - started, lists, n * (dims * 4 + 8) / 2**20)  # fmt: skip
        return cls(index, n, settings.retrieval_probes)

    @classmethod
    def load(
        cls, path: Path, vectors: npt.NDArray[np.float32], settings: RetrievalSettings
    ) -> IvfIndex:
        """A prebuilt faiss file, checked against the vectors it must index."""
        try:
            index = faiss.read_index(str(path))
            faiss.extract_index_ivf(index)
        except Exception as exc:  # faiss raises RuntimeError with its C++ message
            raise ModelLoadError(f"cannot read index {path}: {exc}") from exc
        if index.d != vectors.shape[1] or index.ntotal != len(vectors):
            raise ModelLoadError(
                f"{path}: the index holds {index.ntotal} x {index.d}, the item vectors are "
                f"{len(vectors)} x {vectors.shape[1]}: rebuild it with "
                f"`faust -A app index` (or remove retrieval.index_file from the manifest)"
            )
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ModelLoadError(f"{path}: the index is not inner product: rebuild it")
        return cls(index, len(vectors), settings.retrieval_probes)

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""
        faiss.write_index(self._index, str(path))

    def search(
        self, queries: npt.NDArray[np.float32], count: int, threads: int
    ) -> npt.NDArray[np.int64]:
        """Top ``count`` columns per query, 0 where it found fewer (``count`` <= n_items)."""
        faiss.omp_set_num_threads(threads)
        _, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), count)
        return np.asarray(ids, dtype=np.int64) + 1  # faiss's -1 (not found) becomes 0
