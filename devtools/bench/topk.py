"""Exhaustive top-K kernels over a ``[batch, N]`` score matrix, measured side by side.

Run as ``python -m devtools.bench.topk`` (``--help`` for sizes, batch, k, repeats). One thread,
every kernel timed in turn within each repeat (the order shuffled per repeat), medians
printed: on a shared machine a slow second hits every kernel alike. Each kernel's answer is
checked against a plain full sort first; "exact" says whether it matched on that case, "numpy
peak MiB" what numpy allocated at most during that call (the score matrix is not counted,
except where the model call makes it).
Scores are random normal, or "clustered": inner products of 128-dim two-tower vectors drawn
around 100 centres, with each user's seen items (20-737, like MovieLens users) half from
their own cluster, so seen items score high as they do in a real history.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from app.inference.topk import argpartition_top_k, exhaustive_top_k, grouped_top_k, onnx_top_k

__all__ = ["Case", "make_case", "measure", "oracle_top_k"]

Scores = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
TopK = tuple[Ints, Scores]
Kernel = Callable[[], TopK]
DIM = 128
CLUSTERS = 100


@dataclass(frozen=True)
class Case:
    """One score matrix with its masked cells, and (clustered) the vectors that made it."""

    kind: str
    scores: Scores
    mask_rows: Ints
    mask_cols: Ints
    users: Scores | None = None
    items: Scores | None = None


def make_case(kind: str, batch: int, n: int, seed: int = 0) -> Case:
    """Scores of ``kind`` (random or clustered) with MovieLens-like seen items per row."""
    rng = np.random.default_rng(seed)
    counts = np.clip(rng.lognormal(np.log(65), 0.9, batch), 20, 737).astype(np.int64)
    counts = np.minimum(counts, (n - 1) // 2)
    if kind == "random":
        scores = rng.standard_normal((batch, n), dtype=np.float32)
        seen = [rng.choice(np.arange(1, n), c, replace=False) for c in counts]
        return Case(kind, scores, *_coordinates(seen))
    centres = rng.standard_normal((CLUSTERS, DIM), dtype=np.float32)
    item_cluster = rng.integers(0, CLUSTERS, n)
    items = centres[item_cluster] + rng.standard_normal((n, DIM), dtype=np.float32)
    user_cluster = rng.integers(0, CLUSTERS, batch)
    users = centres[user_cluster] + rng.standard_normal((batch, DIM), dtype=np.float32)
    members = [np.nonzero(item_cluster[1:] == c)[0] + 1 for c in range(CLUSTERS)]
    seen = []
    for cluster, count in zip(user_cluster, counts, strict=True):
        own = rng.choice(members[cluster], min(count // 2, len(members[cluster])), replace=False)
        rest = rng.choice(np.arange(1, n), count, replace=False)
        seen.append(np.unique(np.concatenate([own, rest]))[:count])
    return Case(kind, users @ items.T, *_coordinates(seen), users, items)


def _coordinates(seen: list[Ints]) -> tuple[Ints, Ints]:
    rows = np.repeat(np.arange(len(seen), dtype=np.int64), [len(s) for s in seen])
    return rows, np.concatenate(seen).astype(np.int64)


def oracle_top_k(case: Case, k: int) -> TopK:
    """The definition: per row, stable order by (score desc, column), masked cells -inf."""
    scores = case.scores.copy()
    scores[:, 0] = -np.inf
    scores[case.mask_rows, case.mask_cols] = -np.inf
    cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((cols, -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def _finish(case: Case, rows: Ints, cols: Ints, vals: Scores, k: int) -> TopK:
    """Top ``k`` per row from candidates that hold each row's k best unmasked cells."""
    batch, n = case.scores.shape
    masked = (cols == 0) | np.isin(rows * n + cols, case.mask_rows * n + case.mask_cols)
    vals = np.where(masked, np.float32(-np.inf), vals)
    order = np.lexsort((cols, -vals, rows))
    counts = np.bincount(rows, minlength=batch)
    pick = order[(np.cumsum(counts) - counts)[:, None] + np.arange(k)]
    return cols[pick], vals[pick]


def _reach(case: Case, k: int) -> int:
    """How many best cells per row surely hold its k best unmasked ones."""
    per_row = np.bincount(case.mask_rows, minlength=case.scores.shape[0])
    return k + 1 + int(per_row.max(initial=0))


def argpartition_no_copy(case: Case, k: int) -> TopK:
    """argpartition on the unmasked scores for k + 1 + the most seen, then drop masked."""
    batch = case.scores.shape[0]
    reach = _reach(case, k)
    part = np.argpartition(case.scores, -reach, axis=1)[:, -reach:]
    vals = np.take_along_axis(case.scores, part, axis=1)
    kth = vals.min(axis=1)
    for row in np.nonzero((case.scores >= kth[:, None]).sum(axis=1) > reach)[0]:
        cols = np.nonzero(case.scores[row] >= kth[row])[0]  # tie at the cut: exact redo
        part[row] = cols[np.lexsort((cols, -case.scores[row, cols]))[:reach]]
        vals[row] = case.scores[row, part[row]]
    rows = np.repeat(np.arange(batch, dtype=np.int64), reach)
    return _finish(case, rows, part.ravel(), vals.ravel(), k)


def per_row_loop(case: Case, k: int) -> TopK:
    """One 1-D masked copy and argpartition per row."""
    batch = case.scores.shape[0]
    bounds = np.searchsorted(case.mask_rows, np.arange(batch + 1))
    out_cols, out_vals = np.empty((batch, k), np.int64), np.empty((batch, k), np.float32)
    for r in range(batch):
        row = case.scores[r].copy()
        row[0] = -np.inf
        row[case.mask_cols[bounds[r] : bounds[r + 1]]] = -np.inf
        part = np.argpartition(row, -k)[-k:]
        if (row >= row[part].min()).sum() > k:  # tie at the cut: exact redo
            part = np.nonzero(row >= row[part].min())[0]
        part = part[np.lexsort((part, -row[part]))[:k]]
        out_cols[r], out_vals[r] = part, row[part]
    return out_cols, out_vals


def partition_threshold(case: Case, k: int) -> TopK:
    """np.partition (values only) for each row's cut, then every cell at or above it."""
    n = case.scores.shape[1]
    reach = _reach(case, k)
    cut = np.partition(case.scores, n - reach, axis=1)[:, n - reach]
    rows, cols = np.nonzero(case.scores >= cut[:, None])
    return _finish(case, rows, cols, case.scores[rows, cols], k)


def topk_session(
    shape: tuple[int, int], model_dim: int | None = None, scatter: bool = False
) -> ort.InferenceSession:
    """TopK(largest, sorted) over [batch, N]; with ``model_dim``, over users @ items^T; with
    ``scatter``, after ScatterND sets the cells ``mask`` [M, 2] lists to -inf, in the graph."""
    k_in = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    outs = [
        helper.make_tensor_value_info("values", TensorProto.FLOAT, [shape[0], None]),
        helper.make_tensor_value_info("indices", TensorProto.INT64, [shape[0], None]),
    ]
    top = "masked" if scatter else "scores"
    nodes = [helper.make_node("TopK", [top, "k"], ["values", "indices"], largest=1, sorted=1)]
    if model_dim is None:
        ins = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, list(shape)), k_in]
    else:
        ins = [
            helper.make_tensor_value_info("users", TensorProto.FLOAT, [shape[0], model_dim]),
            helper.make_tensor_value_info("items_t", TensorProto.FLOAT, [model_dim, shape[1]]),
            k_in,
        ]
        nodes.insert(0, helper.make_node("MatMul", ["users", "items_t"], ["scores"]))
    if scatter:
        ins += [
            helper.make_tensor_value_info("mask", TensorProto.INT64, [None, 2]),
            helper.make_tensor_value_info("minus_inf", TensorProto.FLOAT, [None]),
        ]
        nodes.insert(-1, helper.make_node("ScatterND", ["scores", "mask", "minus_inf"], ["masked"]))
    return _session(helper.make_graph(nodes, "topk", ins, outs))


def matmul_session(batch: int, n: int, model_dim: int) -> ort.InferenceSession:
    """The model call alone: users @ items^T -> scores."""
    ins = [
        helper.make_tensor_value_info("users", TensorProto.FLOAT, [batch, model_dim]),
        helper.make_tensor_value_info("items_t", TensorProto.FLOAT, [model_dim, n]),
    ]
    out = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, n])]
    node = helper.make_node("MatMul", ["users", "items_t"], ["scores"])
    return _session(helper.make_graph([node], "model", ins, out))


def _session(graph: onnx.GraphProto) -> ort.InferenceSession:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])


def _from_topk(case: Case, values: Scores, indices: Ints, k: int) -> TopK:
    rows = np.repeat(np.arange(indices.shape[0], dtype=np.int64), indices.shape[1])
    return _finish(case, rows, indices.ravel().astype(np.int64), values.ravel(), k)


def kernels(case: Case, k: int) -> dict[str, Kernel]:
    """Every candidate over the case's ready score matrix (no model call)."""
    mr, mc, scores = case.mask_rows, case.mask_cols, case.scores
    session = topk_session(scores.shape)
    reach = np.array([_reach(case, k)], dtype=np.int64)

    def ort_topk() -> TopK:
        values, indices = session.run(None, {"scores": scores, "k": reach})
        return _from_topk(case, values, indices, k)

    return {
        "argpartition (today)": lambda: argpartition_top_k(scores, mr, mc, k),
        "argpartition, no copy": lambda: argpartition_no_copy(case, k),
        "per-row loop": lambda: per_row_loop(case, k),
        "np.partition cut + nonzero": lambda: partition_threshold(case, k),
        "onnxruntime TopK, k + seen": ort_topk,
        "onnxruntime TopK, masked copy (new)": lambda: onnx_top_k(scores, mr, mc, k),
        "grouped maxima (new)": lambda: grouped_top_k(scores, mr, mc, k),
        "exhaustive_top_k: the faster new one": lambda: exhaustive_top_k(scores, mr, mc, k),
    }


def with_model(case: Case, k: int) -> dict[str, Kernel]:
    """The model call (users @ items^T in onnxruntime) included, top-K after it or in it."""
    assert case.users is not None and case.items is not None
    batch, n = case.scores.shape
    feeds = {"users": case.users, "items_t": np.ascontiguousarray(case.items.T)}
    model, fused = matmul_session(batch, n, DIM), topk_session((batch, n), DIM)
    reach = np.array([_reach(case, k)], dtype=np.int64)
    mr, mc = case.mask_rows, case.mask_cols

    def score() -> Scores:
        out: Scores = model.run(None, feeds)[0]
        return out

    def in_graph() -> TopK:
        values, indices = fused.run(None, {**feeds, "k": reach})
        return _from_topk(case, values, indices, k)

    masking = topk_session((batch, n), DIM, scatter=True)
    pad = np.arange(batch, dtype=np.int64)
    cells = np.stack([np.concatenate([pad, mr]), np.concatenate([0 * pad, mc])], axis=1)
    mask_feeds = {**feeds, "mask": cells, "minus_inf": np.full(len(cells), -np.inf, np.float32)}

    def masked_in_graph() -> TopK:
        values, indices = masking.run(None, {**mask_feeds, "k": np.array([k], np.int64)})
        return indices, values

    return {
        "model call only": lambda: (np.empty(0, np.int64), score()),
        "model + argpartition (today)": lambda: argpartition_top_k(score(), mr, mc, k),
        "model + TopK in the graph, k + seen": in_graph,
        "model + ScatterND masks + TopK in the graph": masked_in_graph,
        "model + exhaustive_top_k (new)": lambda: exhaustive_top_k(score(), mr, mc, k),
    }


def measure(kernels: dict[str, Kernel], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) per kernel, kernels interleaved in a new order each repeat."""
    wall: dict[str, list[float]] = {name: [] for name in kernels}
    cpu: dict[str, list[float]] = {name: [] for name in kernels}
    names = list(kernels)
    for _ in range(repeats):
        random.shuffle(names)
        for name in names:
            w, c = time.perf_counter(), time.process_time()
            kernels[name]()
            cpu[name].append((time.process_time() - c) * 1e3)
            wall[name].append((time.perf_counter() - w) * 1e3)
    return {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in kernels}


def _check(kernel: Kernel, expected: TopK) -> tuple[str, float]:
    """Whether the kernel's answer is the expected one; the MiB numpy allocated at its peak
    (numpy reports its buffers to tracemalloc; onnxruntime's own arena is not counted)."""
    tracemalloc.start()
    cols, vals = kernel()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    same = np.array_equal(cols, expected[0]) and np.array_equal(vals, expected[1])
    return "yes" if same else "NO", peak


def _report(n: int, case: Case, k: int, found: dict[str, Kernel], repeats: int) -> None:
    expected = oracle_top_k(case, k)
    checks = {name: _check(kernel, expected) for name, kernel in found.items()}
    times = measure(found, repeats)
    base = next(cpu for name, (_, cpu) in times.items() if "(today)" in name)
    for name, (wall, cpu) in times.items():
        exact, peak = checks[name]
        print(
            f"| {n:,} | {case.kind} | {name} | {wall:,.1f} | {cpu:,.1f} | {base / cpu:,.1f}x | "
            f"{'' if 'only' in name else exact} | {peak:,.0f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    """Print the table for the sizes asked (the defaults: the issue's four)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1682,20000,100000,500000")
    parser.add_argument("--kinds", default="random,clustered")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=0, help="0: 21 small, 7 mid, 5 large")
    parser.add_argument("--no-model", action="store_true", help="skip the model-call table")
    args = parser.parse_args(argv)
    print(f"batch {args.batch}, k {args.k}, one thread; medians; speed-up on CPU time\n")
    print("| items | scores | kernel | wall ms | CPU ms | vs today | exact | numpy peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        repeats = args.repeats or (21 if n < 10_000 else 7 if n < 200_000 else 5)
        for kind in args.kinds.split(","):
            case = make_case(kind, args.batch, n)
            _report(n, case, args.k, kernels(case, args.k), repeats)
            if kind == "clustered" and not args.no_model:
                # Judged against the model's own scores: onnxruntime's matmul need not round
                # as numpy's does (it did not on an AMD EPYC), and the kernels are not at stake.
                modelled = with_model(case, args.k)
                scored = dataclasses.replace(case, scores=modelled["model call only"]()[1])
                _report(n, scored, args.k, modelled, repeats)


if __name__ == "__main__":
    main()
