"""A two-tower version that does not fit together is refused at load, saying what to fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.errors import ModelLoadError
from app.inference.registry import ModelRegistry
from tests.support.two_tower import edit_manifest, write_ranker, write_small_two_tower

QUERY = {"name": "query", "datatype": "FP32", "shape": [-1, 16]}
RETRIEVAL = {"item_vectors_file": "item_vectors.npy", "metric": "ip"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retrieval": None}, 'no "retrieval" section: add'),
        ({"outputs": [{**QUERY, "name": "scores"}]}, 'needs the one output {"name": "query"'),
        ({"retrieval": {**RETRIEVAL, "metric": "cos"}}, "metric 'cos' is not served"),
        ({"outputs": [{**QUERY, "shape": [-1, 8]}]}, "query is 8-dimensional, the item"),
        ({"ranker": {"model_file": "ranker.onnx", "candidates": 0}}, 'a "ranker" needs'),
        ({"retrieval": {**RETRIEVAL, "index_file": "missing.usearch"}}, "index_file is not there"),
    ],
)  # fmt: skip
def test_a_manifest_that_does_not_fit_is_refused(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    version_dir, _ = write_small_two_tower(tmp_path, n_items=200, clusters=5)
    edit_manifest(version_dir, **fields)
    registry = ModelRegistry(tmp_path)
    registry.retrieval = registry.retrieval.model_copy(update={"retrieval_exhaustive_below": 0})
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        registry.load("tt")


def test_vectors_of_another_width_than_the_query_graph_are_refused(tmp_path: Path) -> None:
    version_dir, catalog = write_small_two_tower(tmp_path, n_items=200, clusters=5)
    np.save(version_dir / "item_vectors.npy", catalog.vectors[:, :8].copy())
    edit_manifest(version_dir, outputs=[{**QUERY, "shape": [-1, -1]}])
    with pytest.raises(ModelLoadError, match=r"gives \[1, 16\] for 1 users, expected \[1, 8\]"):
        ModelRegistry(tmp_path).load("tt")


def test_a_ranker_without_the_candidates_input_is_refused(tmp_path: Path) -> None:
    version_dir, _ = write_small_two_tower(tmp_path, n_items=200, clusters=5)
    write_ranker(version_dir)
    edit_manifest(version_dir, ranker={"model_file": "model.onnx", "candidates": 20})
    with pytest.raises(ModelLoadError, match=r"ranker inputs .* plus 'candidates' INT64"):
        ModelRegistry(tmp_path).load("tt")
