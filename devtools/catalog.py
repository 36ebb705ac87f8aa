"""Synthetic two-tower catalogs: complete model versions of any size, for tests and the bench.

Item vectors are clustered (a few hundred centres plus noise), as learned item embeddings
are; a user's query is the mean of the vectors of their recent items (an ONNX graph made
with the onnx helper API: Gather, masked mean). The same model can also be written as a score
model (the query times every item vector inside the graph), so exhaustive scoring and
retrieval are compared on the very same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["Catalog", "clustered_catalog", "user_histories", "write_score_version",
           "write_two_tower_version"]  # fmt: skip

OPSET = 17
HISTORY = "history"


@dataclass(frozen=True)
class Catalog:
    """Item ids, their vectors (row i is ``items[i]``) and each item's cluster."""

    items: list[str]
    vectors: npt.NDArray[np.float32]
    clusters: npt.NDArray[np.int64]


def clustered_catalog(
    n_items: int, dims: int = 64, n_clusters: int = 500, *, seed: int = 0, noise: float = 0.5
) -> Catalog:
    """``n_items`` vectors around ``n_clusters`` random centres (normal noise of ``noise``)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dims), dtype=np.float32)
    clusters = rng.integers(0, n_clusters, n_items)
    vectors = centres[clusters] + noise * rng.standard_normal((n_items, dims), dtype=np.float32)
    items = [f"i{n}" for n in range(n_items)]
    return Catalog(items, vectors.astype(np.float32), clusters)


def user_histories(
    catalog: Catalog, n_users: int, per_user: int, *, tastes: int = 1, seed: int = 1
) -> dict[str, list[str]]:
    """Users who each interact with ``per_user`` distinct items of ``tastes`` clusters.

    One taste: the query is near a cluster, as for most users of a learned model. Several:
    the query lies between clusters, which an HNSW graph searches badly and an IVF index
    (the default) well (docs/models/catalog-scale.md, Recall and speed)."""
    rng = np.random.default_rng(seed)
    by_cluster: dict[int, npt.NDArray[np.int64]] = {}
    order = np.argsort(catalog.clusters, kind="stable")
    bounds = np.searchsorted(catalog.clusters[order], np.arange(catalog.clusters.max() + 2))
    for c in range(len(bounds) - 1):
        by_cluster[c] = order[bounds[c] : bounds[c + 1]]
    filled = [c for c, members in by_cluster.items() if len(members) >= per_user]
    out: dict[str, list[str]] = {}
    for u in range(n_users):
        pool = np.concatenate([by_cluster[c] for c in rng.choice(filled, tastes, replace=False)])
        picked = rng.choice(pool, per_user, replace=False)
        out[f"u{u}"] = [catalog.items[i] for i in picked]
    return out


def _query_nodes(
    table: npt.NDArray[np.float32],
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """history [B, L] INT64 -> query [B, D]: the mean of the non-padding items' vectors."""
    nodes = [
        helper.make_node("Gather", ["table", HISTORY], ["rows"]),  # [B, L, D]; row 0 is zeros
        helper.make_node("ReduceSum", ["rows", "axis1"], ["total"], keepdims=0),
        helper.make_node("Greater", [HISTORY, "zero_i"], ["filled"]),
        helper.make_node("Cast", ["filled"], ["filled_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["filled_f", "axis1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one_f"], ["count1"]),
        helper.make_node("Div", ["total", "count1"], ["query"]),
    ]
    inits = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_i"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one_f"),
    ]
    return nodes, inits


def _padded(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.concatenate([np.zeros((1, vectors.shape[1]), np.float32), vectors])


def _graph_bytes(
    nodes: Sequence[onnx.NodeProto], inits: Sequence[onnx.TensorProto], output: str, width: int
) -> bytes:
    graph = helper.make_graph(
        list(nodes), "synthetic_two_tower",
        [helper.make_tensor_value_info(HISTORY, TensorProto.INT64, ["batch", "len"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", width])],
        initializer=list(inits),
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    return bytes(model.SerializeToString())


def _manifest(
    name: str, version: str, output: dict[str, object], max_len: int
) -> dict[str, object]:
    return {
        "name": name, "version": version,
        "inputs": [{"name": HISTORY, "datatype": "INT64", "shape": [-1, max_len]}],
        "outputs": [output],
        "feature_spec": {"kind": "recent_items", "max_len": max_len},
        "training": {"algorithm": "synthetic-two-tower"},
    }  # fmt: skip


def _write(version_dir: Path, manifest: dict[str, object], graph: bytes, items: list[str]) -> Path:
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.onnx").write_bytes(graph)
    (version_dir / "items.json").write_bytes(msgspec.json.encode(items))
    # The manifest last: a version is complete (visible to the registry) once it exists.
    (version_dir / "model-settings.json").write_bytes(msgspec.json.encode(manifest))
    return version_dir


def write_two_tower_version(
    root: Path, name: str, version: str, catalog: Catalog, *, max_len: int = 50
) -> Path:
    """A two-tower version under ``root/name/version``: query graph, item_vectors.npy."""
    version_dir = root / name / version
    version_dir.mkdir(parents=True, exist_ok=True)
    np.save(version_dir / "item_vectors.npy", catalog.vectors)
    nodes, inits = _query_nodes(_padded(catalog.vectors))
    dims = catalog.vectors.shape[1]
    manifest = _manifest(name, version, {"name": "query", "datatype": "FP32",
                                         "shape": [-1, dims]}, max_len)  # fmt: skip
    manifest["retrieval"] = {"item_vectors_file": "item_vectors.npy", "metric": "ip"}
    return _write(version_dir, manifest, _graph_bytes(nodes, inits, "query", dims), catalog.items)


def write_score_version(
    root: Path, name: str, version: str, catalog: Catalog, *, max_len: int = 50
) -> Path:
    """The same model as a score model: the query times every item vector, in the graph."""
    padded = _padded(catalog.vectors)
    nodes, inits = _query_nodes(padded)
    nodes.append(helper.make_node("MatMul", ["query", "items_t"], ["scores"]))
    inits.append(numpy_helper.from_array(np.ascontiguousarray(padded.T), "items_t"))
    width = len(catalog.items) + 1
    manifest = _manifest(name, version, {"name": "scores", "datatype": "FP32",
                                         "shape": [-1, width]}, max_len)  # fmt: skip
    graph = _graph_bytes(nodes, inits, "scores", width)
    return _write(root / name / version, manifest, graph, catalog.items)
