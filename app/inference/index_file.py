"""Prebuild a two-tower version's ANN index into its directory (``faust -A app index``).

A worker then reads the file instead of building the index when it loads the version: seconds
instead of minutes for a million items. The file is written beside the vectors under a fixed
name by kind (``item_vectors.faiss`` or ``.usearch``) and recorded in the manifest
(``retrieval.index_file``); both writes are atomic renames, so a worker loading the version
meanwhile sees the old manifest or the new one, whole.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import msgspec
import numpy as np

from app.errors import ModelLoadError
from app.inference.manifest import MANIFEST_FILE, read_manifest
from app.inference.retrieval import INDEX_FILES, ItemIndex, Vectors, load_vectors
from app.settings.retrieval import RetrievalSettings

__all__ = ["INDEX_FILES", "IndexReport", "prebuild_index"]

logger = logging.getLogger(__name__)

# Sampled item vectors used as queries to report the index's recall@10 against exact.
_RECALL_QUERIES = 500
_CHUNK = 32


class IndexReport(msgspec.Struct, frozen=True):
    """What ``prebuild_index`` did: for the command to print."""

    path: Path
    kind: str
    """``ivf`` or ``hnsw``."""
    items: int
    dims: int
    build_s: float
    size_bytes: int
    recall_at_10: float
    """For item vectors as queries (users of one taste)."""
    recall_two_tastes: float
    """For the means of two items' vectors (users of two tastes)."""


def prebuild_index(version_dir: Path, settings: RetrievalSettings) -> IndexReport:
    """Build the version's index, write it beside its vectors, record it in the manifest."""
    manifest = read_manifest(version_dir)
    spec = manifest.retrieval
    if spec is None:
        raise ModelLoadError(
            f'{version_dir} is not a two-tower version (no "retrieval" in its manifest): '
            f"only a version whose output is a query vector has an index"
        )
    n_items = len(msgspec.json.decode((version_dir / manifest.items_file).read_bytes()))
    vectors = load_vectors(version_dir / spec.item_vectors_file, n_items)
    started = time.monotonic()
    index = ItemIndex.build(vectors, settings, f"{manifest.name}/{manifest.version}")
    build_s = time.monotonic() - started
    target = version_dir / index.file_name
    tmp = target.with_name(f".{index.file_name}.tmp")
    index.save(tmp)
    os.replace(tmp, target)
    _record(version_dir / MANIFEST_FILE, index.file_name)
    one, two = _recalls(index, vectors, settings.retrieval_threads)
    size = target.stat().st_size
    return IndexReport(target, index.kind, n_items, vectors.shape[1], build_s, size, one, two)


def _record(manifest_path: Path, index_file: str) -> None:
    """Set ``retrieval.index_file`` in the manifest, keeping every other field as written."""
    raw = msgspec.json.decode(manifest_path.read_bytes())
    raw["retrieval"]["index_file"] = index_file
    tmp = manifest_path.with_name(f".{manifest_path.name}.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(raw)))
    os.replace(tmp, manifest_path)


def _recall_at_10(index: ItemIndex, queries: Vectors, vectors: Vectors, threads: int) -> float:
    """Share of the exact top 10 that the index's own top 10 holds for ``queries``."""
    found = index.search(queries, 10, threads)
    hits = 0
    for start in range(0, len(queries), _CHUNK):  # [chunk, n_items] at a time, not [500, N]
        scores = queries[start : start + _CHUNK] @ vectors.T
        exact = np.argpartition(-scores, 9, axis=1)[:, :10] + 1
        for got, want in zip(found[start : start + _CHUNK].tolist(), exact.tolist(), strict=True):
            hits += len(set(got) & set(want))
    return hits / (10 * len(queries))


def _recalls(index: ItemIndex, vectors: Vectors, threads: int) -> tuple[float, float]:
    """Recall@10 for sampled item vectors as queries (a user of one taste), and for the
    means of two sampled items' vectors (a user of two: the query an index finds hardest)."""
    rng = np.random.default_rng(0)
    n = min(_RECALL_QUERIES, len(vectors))
    one = vectors[rng.choice(len(vectors), n, replace=False)]
    two = ((one + vectors[rng.choice(len(vectors), n, replace=False)]) / 2).astype(np.float32)
    return (_recall_at_10(index, one, vectors, threads),
            _recall_at_10(index, two, vectors, threads))  # fmt: skip
