"""Small two-tower versions for unit tests: a synthetic catalog plus, optionally, a ranker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from onnx import TensorProto, helper

from devtools.catalog import Catalog, clustered_catalog, write_two_tower_version

__all__ = ["edit_manifest", "exact_top", "write_ranker", "write_small_two_tower"]


def write_small_two_tower(
    root: Path, n_items: int = 3000, dims: int = 16, clusters: int = 30, *, name: str = "tt",
    version: str = "1", seed: int = 0,
) -> tuple[Path, Catalog]:  # fmt: skip
    """A clustered two-tower version under ``root/name/version`` and its catalog."""
    catalog = clustered_catalog(n_items, dims, clusters, seed=seed)
    return write_two_tower_version(root, name, version, catalog), catalog


def edit_manifest(version_dir: Path, **fields: Any) -> None:
    """Overwrite top-level manifest fields (None removes one)."""
    path = version_dir / "model-settings.json"
    raw = msgspec.json.decode(path.read_bytes())
    for key, value in fields.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    path.write_bytes(msgspec.json.encode(raw))


def write_ranker(version_dir: Path, candidates: int = 20, weight: float = -1.0) -> None:
    """A ranker graph scoring candidate column c as ``weight * c`` (it reads the history
    too, as a ranker must accept it), recorded in the manifest."""
    nodes = [
        helper.make_node("Cast", ["candidates"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["as_float", "weight"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes, "ranker",
        [helper.make_tensor_value_info("history", TensorProto.INT64, ["batch", "len"]),
         helper.make_tensor_value_info("candidates", TensorProto.INT64, ["batch", "c"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "c"])],
        initializer=[helper.make_tensor("weight", TensorProto.FLOAT, [], [weight])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    (version_dir / "ranker.onnx").write_bytes(model.SerializeToString())
    edit_manifest(version_dir, ranker={"model_file": "ranker.onnx", "candidates": candidates})


def exact_top(catalog: Catalog, history: list[str], k: int = 10, max_len: int = 50) -> list[str]:
    """The exact top-``k`` unseen items for a history: the mean of its recent vectors."""
    index = {item: n for n, item in enumerate(catalog.items)}
    rows = [index[i] for i in history[-max_len:]]
    scores = catalog.vectors @ catalog.vectors[rows].mean(axis=0)
    scores[[index[i] for i in history]] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return [catalog.items[n] for n in order]
