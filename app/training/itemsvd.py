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

__all__ = [
    "RATED_WEIGHT",
    "ItemSvdParams",
    "build_onnx",
    "fit",
    "rating_factor",
    "reference_scores",
]


OPSET = 17
# itemsvd-rated's rating weight, picked on validation NDCG@10 among -0.25, -0.1, 0.1, 0.25,
# 0.5, 1 (0.1120 at -0.25 against 0.1106 without ratings; on test it does not beat itemsvd).
RATED_WEIGHT = -0.25


class ItemSvdParams:
    """Hyper-parameters; the defaults were picked on the validation split."""

    def __init__(
        self,
        dim: int = 128,
        window: int = 5,
        max_len: int = 20,
        recency_decay: float = 0.8,
        popularity_weight: float = 0.3,
        rating_weight: float = 0.0,
    ) -> None:
        self.dim = dim
        self.window = window
        self.max_len = max_len
        self.recency_decay = recency_decay
        self.popularity_weight = popularity_weight
        self.rating_weight = rating_weight
        """0: the model reads items only. Otherwise it also reads each event's rating and
        weighs the item by ``max(0.1, 1 + rating_weight * (rating - 3))`` (1 without one)."""

    @property
    def rated(self) -> bool:
        return self.rating_weight != 0.0

    def recency_weights(self) -> npt.NDArray[np.float32]:
        """Weight of each of the last ``max_len`` positions, the most recent (last) 1."""
        return (self.recency_decay ** np.arange(self.max_len)[::-1]).astype(np.float32)

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


def rating_factor(ratings: npt.NDArray[np.float32], weight: float) -> npt.NDArray[np.float32]:
    """How much each event's item counts for its rating (1 where there is none: 0)."""
    factor = np.maximum(0.1, 1.0 + weight * (ratings - 3.0))
    return np.asarray(np.where(ratings > 0, factor, 1.0), dtype=np.float32)


def reference_scores(
    emb: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    history: npt.NDArray[np.int64],
    params: ItemSvdParams,
    ratings: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """The model in numpy, term by term: what the ONNX graph must compute."""
    weights = params.recency_weights()
    w = (history > 0) * weights[None, :]
    if params.rated:
        assert ratings is not None, "a rated model reads ratings"
        w = w * rating_factor(ratings, params.rating_weight)
    user = (emb[history] * w[:, :, None]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-6)[:, None]
    return np.asarray(user @ emb.T + bias[None, :], dtype=np.float32)


def build_onnx(
    emb: npt.NDArray[np.float32], bias: npt.NDArray[np.float32], params: ItemSvdParams
) -> bytes:
    """ONNX graph: history [N, max_len] int64 (and, if ``params.rated``, ratings [N, max_len]
    float32) -> scores [N, V] float32 (dynamic batch axis)."""
    size, _ = emb.shape
    weights = params.recency_weights()
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
        helper.make_node("Mul", ["mask", "recency"], ["w" if not params.rated else "w0"]),
        *(_rating_nodes(params.rating_weight, "w0", "w", inits) if params.rated else []),
        helper.make_node("Unsqueeze", ["w", "axis2"], ["w3"]),  # [N, L, 1]
        helper.make_node("Mul", ["vectors", "w3"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis1"], ["num"], keepdims=0),
        helper.make_node("ReduceSum", ["w", "axis1"], ["den0"], keepdims=1),
        helper.make_node("Max", ["den0", "eps"], ["den"]),
        helper.make_node("Div", ["num", "den"], ["user"]),  # [N, D]
        # user @ emb.T + bias: [N, V]
        helper.make_node("Gemm", ["user", "emb", "bias"], ["scores"], transB=1),
    ]
    inputs = [
        helper.make_tensor_value_info("history", TensorProto.INT64, ["batch", params.max_len])
    ]
    if params.rated:
        inputs.append(
            helper.make_tensor_value_info("ratings", TensorProto.FLOAT, ["batch", params.max_len])
        )
    graph = helper.make_graph(
        nodes,
        "itemsvd",
        inputs,
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", size])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _rating_nodes(
    weight: float, before: str, after: str, inits: list[onnx.TensorProto]
) -> list[onnx.NodeProto]:
    """``after = before * rating_factor(ratings)``, as ONNX nodes (``rating_factor``'s terms)."""
    inits += [
        numpy_helper.from_array(np.array(weight, dtype=np.float32), "rating_weight"),
        numpy_helper.from_array(np.array(3.0, dtype=np.float32), "neutral"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(0.1, dtype=np.float32), "floor"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "fzero"),
    ]
    return [
        helper.make_node("Sub", ["ratings", "neutral"], ["centred"]),
        helper.make_node("Mul", ["centred", "rating_weight"], ["shift"]),
        helper.make_node("Add", ["shift", "one"], ["raw_factor"]),
        helper.make_node("Max", ["raw_factor", "floor"], ["factor"]),
        helper.make_node("Greater", ["ratings", "fzero"], ["rated"]),
        helper.make_node("Where", ["rated", "factor", "one"], ["rating_w"]),
        helper.make_node("Mul", [before, "rating_w"], [after]),
    ]
