"""The HNSW index wrapper, the item vectors' checks and exact candidate scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.errors import ModelLoadError
from app.inference.retrieval import ItemIndex, exact_scores, load_vectors
from app.settings.retrieval import RetrievalSettings
from devtools.catalog import clustered_catalog, user_histories

KINDS = [RetrievalSettings(retrieval_index="ivf"), RetrievalSettings(retrieval_index="hnsw")]
NAMES = ["ivf", "hnsw"]


def served_top_10(index: ItemIndex, vectors: np.ndarray, queries: np.ndarray,
                  seen: np.ndarray) -> np.ndarray:  # fmt: skip
    """The serving path: the index's top 10 + seen, seen dropped, exact scores, top 10."""
    found = index.search(queries, 10 + seen.shape[1])
    found[(found[:, :, None] == seen[:, None, :]).any(axis=2)] = 0
    scores = exact_scores(queries, vectors, found)
    return np.take_along_axis(found, np.argsort(-scores, axis=1)[:, :10], axis=1)


def recall_at_10(vectors: np.ndarray, queries: np.ndarray, seen: np.ndarray,
                 got: np.ndarray) -> float:  # fmt: skip
    """Share of the exact top 10 unseen columns that ``got`` holds."""
    scores = queries @ vectors.T
    np.put_along_axis(scores, seen - 1, -np.inf, axis=1)
    exact = np.argsort(-scores, axis=1)[:, :10] + 1
    return float(np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact, strict=True)]))


@pytest.mark.parametrize("settings", KINDS, ids=NAMES)
def test_the_index_finds_almost_all_of_the_exact_top_10(settings: RetrievalSettings) -> None:
    catalog = clustered_catalog(5000, 16, 50)
    index = ItemIndex.build(catalog.vectors, settings)
    assert index.kind == settings.retrieval_index
    queries = catalog.vectors[::50] + 0.1
    found = index.search(queries, 30)
    assert found.shape == (100, 30) and found.min() >= 1 and found.max() <= 5000
    no_seen = np.zeros((100, 0), dtype=np.int64)
    got = served_top_10(index, catalog.vectors, queries, no_seen)
    assert recall_at_10(catalog.vectors, queries, no_seen, got) >= 0.95


def test_the_default_index_keeps_recall_for_users_of_two_tastes() -> None:
    # Queries between two clusters (the mean of two tastes' items) are where a graph index
    # loses recall on a clustered catalog; the default (IVF) must hold it above the bar.
    catalog = clustered_catalog(40_000, 32, 100)
    index = ItemIndex.build(catalog.vectors, RetrievalSettings())
    column = {item: n + 1 for n, item in enumerate(catalog.items)}
    for tastes in (1, 2):
        users = user_histories(catalog, 300, 10, tastes=tastes, seed=tastes)
        seen = np.array([[column[i] for i in h] for h in users.values()], dtype=np.int64)
        queries = catalog.vectors[seen - 1].mean(axis=1)
        got = served_top_10(index, catalog.vectors, queries, seen)
        assert not (got[:, :, None] == seen[:, None, :]).any(), "a seen item retrieved"
        assert recall_at_10(catalog.vectors, queries, seen, got) >= 0.97, f"{tastes} tastes"


@pytest.mark.parametrize("settings", KINDS, ids=NAMES)
def test_one_query_and_more_candidates_than_items(settings: RetrievalSettings) -> None:
    vectors = clustered_catalog(40, 8, 4).vectors
    index = ItemIndex.build(vectors, settings)
    found = index.search(vectors[:1], 100)
    assert found.shape == (1, 40)
    assert sorted(found[0].tolist()) == list(range(1, 41)), "every item, once, as a column"


def test_exact_scores_are_inner_products_and_padding_is_minus_infinity() -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    queries = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.float32)
    columns = np.array([[1, 4, 0], [2, 0, 3]])
    got = exact_scores(queries, vectors, columns)
    assert got.tolist() == [[0.0, 9.0, -np.inf], [9.0, -np.inf, 15.0]]


@pytest.mark.parametrize("settings", KINDS, ids=NAMES)
def test_a_saved_index_loads_and_one_of_other_vectors_is_refused(
    tmp_path: Path, settings: RetrievalSettings
) -> None:
    vectors = clustered_catalog(500, 8, 5).vectors
    built = ItemIndex.build(vectors, settings)
    path = tmp_path / built.file_name
    built.save(path)
    loaded = ItemIndex.load(path, vectors, settings)
    assert (loaded.search(vectors[:20], 5) > 0).all()
    assert loaded.n_items == 500 and loaded.kind == settings.retrieval_index
    with pytest.raises(ModelLoadError, match="rebuild it with `faust -A app index`"):
        ItemIndex.load(path, vectors[:400], settings)
    bad = tmp_path / f"bad{path.suffix}"
    bad.write_bytes(b"not an index")
    with pytest.raises(ModelLoadError, match="cannot read index"):
        ItemIndex.load(bad, vectors, settings)


def test_a_prebuilt_file_is_served_as_its_kind_and_an_unknown_one_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = clustered_catalog(500, 8, 5).vectors
    hnsw = ItemIndex.build(vectors, RetrievalSettings(retrieval_index="hnsw"))
    hnsw.save(tmp_path / hnsw.file_name)
    loaded = ItemIndex.load(tmp_path / "item_vectors.usearch", vectors, RetrievalSettings())
    assert loaded.kind == "hnsw" and (loaded.search(vectors[:5], 5) > 0).all()
    assert "is a hnsw index, STREAMREC_RETRIEVAL_INDEX is ivf: serving it" in caplog.text
    (tmp_path / "item_vectors.bin").write_bytes(b"?")
    with pytest.raises(ModelLoadError, match=r"not an index file streamrec reads"):
        ItemIndex.load(tmp_path / "item_vectors.bin", vectors, RetrievalSettings())


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
