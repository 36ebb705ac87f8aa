"""The HNSW index wrapper, the item vectors' checks and exact candidate scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.errors import ModelLoadError
from app.inference.retrieval import ItemIndex, exact_scores, load_vectors
from app.settings.retrieval import RetrievalSettings
from devtools.catalog import clustered_catalog

SETTINGS = RetrievalSettings()


def test_the_index_finds_almost_all_of_the_exact_top_10() -> None:
    catalog = clustered_catalog(5000, 16, 50)
    index = ItemIndex.build(catalog.vectors, SETTINGS)
    queries = catalog.vectors[::50] + 0.1
    found = index.search(queries, 30)
    assert found.shape == (100, 30) and found.min() >= 1 and found.max() <= 5000
    exact = np.argsort(-(queries @ catalog.vectors.T), axis=1)[:, :10] + 1
    scores = exact_scores(queries, catalog.vectors, found)
    best = np.take_along_axis(found, np.argsort(-scores, axis=1)[:, :10], axis=1)
    recall = np.mean([len(set(b) & set(e)) / 10 for b, e in zip(best, exact, strict=True)])
    assert recall >= 0.95


def test_one_query_and_more_candidates_than_items() -> None:
    vectors = clustered_catalog(40, 8, 4).vectors
    index = ItemIndex.build(vectors, SETTINGS)
    found = index.search(vectors[:1], 100)
    assert found.shape == (1, 40)
    assert sorted(found[0].tolist()) == list(range(1, 41)), "every item, once, as a column"


def test_exact_scores_are_inner_products_and_padding_is_minus_infinity() -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    queries = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.float32)
    columns = np.array([[1, 4, 0], [2, 0, 3]])
    got = exact_scores(queries, vectors, columns)
    assert got.tolist() == [[0.0, 9.0, -np.inf], [9.0, -np.inf, 15.0]]


def test_a_saved_index_loads_and_one_of_other_vectors_is_refused(tmp_path: Path) -> None:
    vectors = clustered_catalog(500, 8, 5).vectors
    ItemIndex.build(vectors, SETTINGS).save(tmp_path / "i.usearch")
    loaded = ItemIndex.load(tmp_path / "i.usearch", vectors, SETTINGS)
    assert (loaded.search(vectors[:20], 5) > 0).all()
    assert loaded.n_items == 500
    with pytest.raises(ModelLoadError, match="rebuild it with `faust -A app index`"):
        ItemIndex.load(tmp_path / "i.usearch", vectors[:400], SETTINGS)
    (tmp_path / "bad.usearch").write_bytes(b"not an index")
    with pytest.raises(ModelLoadError, match="cannot read index"):
        ItemIndex.load(tmp_path / "bad.usearch", vectors, SETTINGS)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((3, 4), dtype=np.float64), r"float64 \[3, 4\], expected float32 \[3, D\]"),
        (np.zeros((2, 4), dtype=np.float32), r"float32 \[2, 4\], expected float32 \[3, D\]"),
        (np.full((3, 4), np.nan, dtype=np.float32), "NaN or infinite"),
    ],
)
def test_item_vectors_that_do_not_fit_are_refused(
    tmp_path: Path, array: np.ndarray, message: str
) -> None:
    np.save(tmp_path / "v.npy", array)
    with pytest.raises(ModelLoadError, match=message):
        load_vectors(tmp_path / "v.npy", 3)
    with pytest.raises(ModelLoadError, match="cannot read item vectors"):
        load_vectors(tmp_path / "missing.npy", 3)
