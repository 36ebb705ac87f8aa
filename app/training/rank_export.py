"""Export a two-stage hybrid (``training.hybrid_rank``) as a two-tower version with a ranker.

The version directory holds ``model.onnx`` (history, ages -> ``query``), ``item_vectors.npy``
and ``ranker.onnx`` (history, ages, candidates -> ``scores``); its manifest names them in
``retrieval`` and ``ranker`` (the contract of ``app.inference.manifest``).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from app.features.builders import build_inputs
from app.features.state import UserFeatureState
from app.training.hybrid_rank import TwoStage

__all__ = ["RANKER_FILE", "VECTORS_FILE", "export_graphs", "manifest_sections", "parity"]

VECTORS_FILE = "item_vectors.npy"
RANKER_FILE = "ranker.onnx"
INPUTS = {"history": "recent_items", "ages": "recent_age_s"}


def _onnx(
    model: nn.Module, examples: tuple[torch.Tensor, ...], names: list[str], output: str
) -> bytes:
    axes: dict[str, dict[int, str]] = {name: {0: "batch"} for name in names}
    if "candidates" in names:  # as many candidates as retrieval hands over
        axes["candidates"] = {0: "batch", 1: "candidates"}
        axes[output] = {0: "batch", 1: "candidates"}
    else:
        axes[output] = {0: "batch"}
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.onnx"
        torch.onnx.export(
            model, examples, str(path), input_names=names, output_names=[output],
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip
        return path.read_bytes()


def _examples(max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    history = torch.zeros((2, max_len), dtype=torch.int64)
    history[:, -1] = 1
    return history, torch.zeros((2, max_len), dtype=torch.float32)


def export_graphs(stage: TwoStage, max_len: int) -> dict[str, bytes]:
    """File name -> bytes: the query graph, the ranker graph and the item vectors."""
    history, ages = _examples(max_len)
    candidates = torch.tensor([[1, 0], [1, 1]], dtype=torch.int64)
    vectors = io.BytesIO()
    np.save(vectors, stage.item_vectors, allow_pickle=False)
    return {
        "model.onnx": _onnx(stage.query, (history, ages), list(INPUTS), "query"),
        RANKER_FILE: _onnx(
            stage.ranker, (history, ages, candidates), [*INPUTS, "candidates"], "scores"
        ),
        VECTORS_FILE: vectors.getvalue(),
    }


def manifest_sections(stage: TwoStage) -> dict[str, Any]:
    """The manifest's ``retrieval`` and ``ranker`` sections."""
    return {
        "retrieval": {"item_vectors_file": VECTORS_FILE, "metric": "ip"},
        "ranker": {"model_file": RANKER_FILE, "candidates": stage.params.candidates},
    }


def parity(
    stage: TwoStage,
    graphs: dict[str, bytes],
    states: Sequence[UserFeatureState],
    vocab: dict[str, int],
    max_len: int,
) -> dict[str, float]:
    """Largest gaps of the exported graphs from the PyTorch modules on real users' inputs
    (their query, and the ranker on candidates made of their retrieval's top items)."""
    import onnxruntime as ort

    inputs = build_inputs(states, INPUTS, vocab, max_len)
    tensors = [torch.from_numpy(np.asarray(inputs[name])) for name in INPUTS]
    with torch.no_grad():
        query = stage.query(*tensors).numpy()
    ip = query @ stage.item_vectors.T
    candidates = np.argsort(-ip, axis=1)[:, : stage.params.candidates].astype(np.int64) + 1
    candidates[:, -1] = 0  # padding too
    with torch.no_grad():
        scores = stage.ranker(*tensors, torch.from_numpy(candidates)).numpy()
    got_query = _run(ort, graphs["model.onnx"], dict(inputs), "query")
    got_scores = _run(ort, graphs[RANKER_FILE], {**inputs, "candidates": candidates}, "scores")
    finite = np.isfinite(scores)
    if not (np.isfinite(got_scores) == finite).all():
        raise AssertionError("the ranker graph's -inf (padding) cells differ from PyTorch's")
    return {
        "query_onnx_max_abs_diff": float(np.abs(got_query - query).max()),
        "ranker_onnx_max_abs_diff": float(np.abs(got_scores[finite] - scores[finite]).max()),
    }


def _run(ort: Any, graph: bytes, feed: dict[str, Any], output: str) -> npt.NDArray[np.float32]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run([output], feed)[0], dtype=np.float32)
