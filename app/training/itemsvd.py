"""ItemSVD: item embeddings from a factorised co-occurrence matrix, scored from recent history.

A small honest sequence-aware baseline trained with numpy in seconds: items that occur close
together in users' timelines get close embeddings (PPMI + truncated SVD, as in word2vec's
matrix view); a user is the recency-weighted mean of their last ``max_len`` item embeddings;
scores are dot products plus a popularity prior. Exported as a plain ONNX graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["ItemSvdParams", "build_onnx", "fit", "reference_scores"]


OPSET = 17


class ItemSvdParams:
    """Hyper-parameters; the defaults were picked on the validation split."""

    def __init__(
        self,
        dim: int = 128,
        window: int = 5,
        max_len: int = 20,
        recency_decay: float = 0.8,
        popularity_weight: float = 0.3,
    ) -> None:
        self.dim = dim
        self.window = window
        self.max_len = max_len
        self.recency_decay = recency_decay
        self.popularity_weight = popularity_weight

    def as_dict(self) -> dict[str, float]:
        return dict(vars(self))


def fit(
    sequences: Sequence[Sequence[str]],
    vocab: Mapping[str, int],
    params: ItemSvdParams,
    *,
    progress: bool = False,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Item embeddings [V, dim] (row 0 = padding, zeros) and a popularity bias [V]."""
    from tqdm import tqdm

    size = len(vocab) + 1
    cooc = np.zeros((size, size), dtype=np.float64)
    pop = np.zeros(size, dtype=np.float64)
    for seq in tqdm(sequences, unit="user", desc="train itemsvd", disable=not progress):
        idx = np.array([vocab[i] for i in seq if i in vocab], dtype=np.int64)
        np.add.at(pop, idx, 1.0)
        for lag in range(1, params.window + 1):
            if len(idx) <= lag:
                break
            # Nearer neighbours in time count more.
            np.add.at(cooc, (idx[:-lag], idx[lag:]), 1.0 / lag)
    cooc += cooc.T
    total = cooc.sum()
    row = cooc.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(cooc * total / (row * row.T))
    ppmi = np.nan_to_num(np.maximum(pmi, 0.0), nan=0.0, posinf=0.0, neginf=0.0)
    u, s, _ = np.linalg.svd(ppmi, hermitian=True)
    emb = u[:, : params.dim] * np.sqrt(s[: params.dim])
    emb[0] = 0.0
    bias = params.popularity_weight * np.log1p(pop)
    bias[0] = 0.0
    return emb.astype(np.float32), bias.astype(np.float32)


def reference_scores(
    emb: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    history: npt.NDArray[np.int64],
    params: ItemSvdParams,
) -> npt.NDArray[np.float32]:
    """The model in numpy, term by term: what the ONNX graph must compute."""
    weights = params.recency_decay ** np.arange(params.max_len)[::-1]
    w = (history > 0) * weights[None, :]
    user = (emb[history] * w[:, :, None]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-6)[:, None]
    return np.asarray(user @ emb.T + bias[None, :], dtype=np.float32)


def build_onnx(
    emb: npt.NDArray[np.float32], bias: npt.NDArray[np.float32], params: ItemSvdParams
) -> bytes:
    """ONNX graph: history [N, max_len] int64 -> scores [N, V] float32 (dynamic batch axis)."""
    size, _ = emb.shape
    weights = (params.recency_decay ** np.arange(params.max_len)[::-1]).astype(np.float32)
    inits = [
        numpy_helper.from_array(emb, "emb"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(weights, "recency"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array(1e-6, dtype=np.float32), "eps"),
    ]
    nodes = [
        helper.make_node("Gather", ["emb", "history"], ["vectors"]),  # [N, L, D]
        helper.make_node("Greater", ["history", "zero"], ["present"]),  # padding = 0
        helper.make_node("Cast", ["present"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["mask", "recency"], ["w"]),  # [N, L]
        helper.make_node("Unsqueeze", ["w", "axis2"], ["w3"]),  # [N, L, 1]
        helper.make_node("Mul", ["vectors", "w3"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis1"], ["num"], keepdims=0),
        helper.make_node("ReduceSum", ["w", "axis1"], ["den0"], keepdims=1),
        helper.make_node("Max", ["den0", "eps"], ["den"]),
        helper.make_node("Div", ["num", "den"], ["user"]),  # [N, D]
        # user @ emb.T + bias: [N, V]
        helper.make_node("Gemm", ["user", "emb", "bias"], ["scores"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "itemsvd",
        [helper.make_tensor_value_info("history", TensorProto.INT64, ["batch", params.max_len])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", size])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
