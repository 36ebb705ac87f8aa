"""Exhaustive top-K over a ``[batch, N]`` score matrix, in about one read of it.

Ranking rule (both kernels): a row's cells ordered by score, higher first, equal scores by
column, lower first; column 0 (padding) and the masked (already seen) cells score -inf, so they
come last and fill the places only when fewer than ``k`` other cells remain.

``grouped_top_k`` splits each row's columns into fine groups (column c in group c mod G) and
takes each group's maximum: one vectorised pass, no copy of the matrix. Fine groups holding a
masked cell are set aside, and coarse groups (every fine group g with the same g mod C) take the
maximum of the clean ones. The k-th largest coarse maximum is a lower bound for the k-th best
unmasked score (k coarse groups each hold a clean fine group whose maximum, an unmasked cell,
reaches it), so only the fine groups whose maximum reaches it can hold the answer: those few
are gathered and sorted exactly.

``argpartition_top_k`` is the former kernel (a masked copy, ``argpartition``, a redo for ties
at the cut); it stays for NaN scores, out-of-range masks and small matrices, where it is the
reference behaviour. Measurements: devtools/bench/topk.py.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

__all__ = ["argpartition_top_k", "exhaustive_top_k", "group_count", "grouped_top_k", "onnx_top_k"]

logger = logging.getLogger(__name__)

TopK = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]

# Fine groups: the more, the fewer columns gathered per group that passes the cut, but the
# more maxima to reduce; about 8 columns a group up to 4096 groups measured best from 5k to
# 500k items (devtools/bench/topk.py), and flat within 20% from 1024 to 8192 groups at 100k.
FINE_GROUPS = 4096
COLUMNS_PER_FINE = 8
# Coarse groups (maxima of fine ones) only set the cut, by one np.partition over [batch,
# coarse]: measured 0.4 ms at 512, 1.7 ms at 1024, 8 ms at 2048 for a batch of 256. Fewer
# lose to the seen items: a user who saw 700 of 1,682 items leaves no coarse group of 13
# columns clean, and the whole row is gathered.
COARSE_GROUPS = 512
# Below 3 columns per coarse group argpartition is as fast (measured at 1,000 items).
COLUMNS_PER_COARSE = 3


# Below this many columns onnxruntime's TopK on a masked copy is faster, above it the grouped
# kernel: CPU time per batch of 256 equal within noise from 20k to 30k items, onnxruntime 2-3x
# faster at 1,682, the grouped kernel 2x faster at 100k (devtools/bench/topk.py).
GROUPED_FROM = 25_000


def exhaustive_top_k(
    scores: npt.NDArray[np.float32],
    mask_rows: npt.NDArray[np.int64],
    mask_cols: npt.NDArray[np.int64],
    k: int,
) -> TopK:
    """Best ``k`` columns per row, best first, never a masked cell nor the padding column 0."""
    if scores.shape[1] < GROUPED_FROM:
        return onnx_top_k(scores, mask_rows, mask_cols, k)
    return grouped_top_k(scores, mask_rows, mask_cols, k)


def onnx_top_k(
    scores: npt.NDArray[np.float32],
    mask_rows: npt.NDArray[np.int64],
    mask_cols: npt.NDArray[np.int64],
    k: int,
) -> TopK:
    """The former kernel's masked copy, then onnxruntime's TopK: one C++ pass with a heap."""
    masked = np.array(scores, dtype=np.float32, copy=True, order="C")
    masked[:, 0] = -np.inf
    masked[mask_rows, mask_cols] = -np.inf
    k = min(k, masked.shape[1] - 1)
    # TopK breaks ties by the lower index, as the ONNX spec says (held by the tests), but
    # orders NaN its own way: keep the reference's behaviour for it.
    if k < 1 or masked.shape[0] == 0 or np.isnan(masked.max()):
        return argpartition_top_k(scores, mask_rows, mask_cols, k)
    feed = {"scores": masked, "k": np.array([k], dtype=np.int64)}
    values, indices = _topk_session().run(None, feed)
    return indices, values


@functools.cache
def _topk_session() -> ort.InferenceSession:
    """TopK(scores [batch, N], k) -> values, indices; largest first, sorted. Built on first use."""
    from onnx import TensorProto, helper  # the worker needs onnx for this graph only

    node = helper.make_node("TopK", ["scores", "k"], ["values", "indices"], largest=1, sorted=1)
    graph = helper.make_graph(
        [node],
        "top_k",
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "n"]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        ],
        [
            helper.make_tensor_value_info("values", TensorProto.FLOAT, ["batch", "k"]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, ["batch", "k"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    # One thread, like the scorer's sessions: run releases the GIL, batches run in order.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )


def group_count(n: int, k: int) -> tuple[int, int] | None:
    """(fine, coarse) groups to split N columns into for a top-``k``; None: use argpartition."""
    # >= 4k coarse groups, so the user's seen items cannot leave fewer than k of them clean.
    coarse = max(COARSE_GROUPS, 1 << (4 * k - 1).bit_length())
    if n < COLUMNS_PER_COARSE * coarse:
        return None
    fine = min(FINE_GROUPS, 1 << (n // COLUMNS_PER_FINE).bit_length() - 1)
    return max(fine, coarse), coarse


def grouped_top_k(
    scores: npt.NDArray[np.float32],
    mask_rows: npt.NDArray[np.int64],
    mask_cols: npt.NDArray[np.int64],
    k: int,
) -> TopK:
    """Best ``k`` columns per row, best first, never a masked cell nor the padding column 0."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    batch, n = scores.shape
    k = min(k, n - 1)
    groups = group_count(n, k)
    if groups is None or batch == 0 or k < 1 or not _in_range(mask_rows, mask_cols, batch, n):
        return argpartition_top_k(scores, mask_rows, mask_cols, k)
    fine, coarse = groups
    maxima = _group_maxima(scores, fine)
    if np.isnan(maxima).any():  # NaN orders nowhere: keep the reference's behaviour for it
        return argpartition_top_k(scores, mask_rows, mask_cols, k)
    clean = maxima.copy()
    clean[:, 0] = -np.inf  # fine group 0 holds the padding column
    clean[mask_rows, mask_cols % fine] = -np.inf
    # k coarse groups reach the cut, each through a clean fine group: k unmasked cells do.
    # -inf when fewer than k are clean: then every group is gathered (exact, slower).
    clean = clean.reshape(batch, -1, coarse).max(axis=1)
    cut = np.partition(clean, coarse - k, axis=1)[:, coarse - k]
    rows, cols, vals = _candidates(scores, maxima, cut)
    vals[_masked(scores, cut, rows, cols, mask_rows, mask_cols)] = -np.inf
    order = np.lexsort((cols, -vals, rows))
    # Every row has >= k candidates (k unmasked cells, or all N > k cells).
    counts = np.bincount(rows, minlength=batch)
    pick = order[(np.cumsum(counts) - counts)[:, None] + np.arange(k)]
    return cols[pick], vals[pick]


def _masked(
    scores: npt.NDArray[np.float32],
    cut: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    mask_rows: npt.NDArray[np.int64],
    mask_cols: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Which candidates are the padding column or a masked cell."""
    masked: npt.NDArray[np.bool_] = cols == 0
    # Only masked cells at or above the cut can be candidates: usually few of the batch's.
    high = scores[mask_rows, mask_cols] >= cut[mask_rows]
    if high.any():
        n = scores.shape[1]
        masked |= np.isin(rows * n + cols, mask_rows[high].astype(np.int64) * n + mask_cols[high])
    return masked


def _in_range(
    mask_rows: npt.NDArray[np.int64], mask_cols: npt.NDArray[np.int64], batch: int, n: int
) -> bool:
    """Whether every mask cell is inside the matrix (negative indices wrap in numpy)."""
    if not mask_rows.size:
        return True
    rows_in = mask_rows.min() >= 0 and mask_rows.max() < batch
    return bool(rows_in and mask_cols.min() >= 0 and mask_cols.max() < n)


def _group_maxima(scores: npt.NDArray[np.float32], groups: int) -> npt.NDArray[np.float32]:
    """``[batch, groups]``: per row, the maximum over the columns c with c mod groups = g."""
    batch, n = scores.shape
    whole = n // groups * groups
    # A view (splitting the contiguous last axis), reduced over the middle axis: SIMD maximum
    # of whole contiguous rows, with no copy of the score matrix.
    maxima: npt.NDArray[np.float32] = scores[:, :whole].reshape(batch, -1, groups).max(axis=1)
    tail = n - whole
    np.maximum(maxima[:, :tail], scores[:, whole:], out=maxima[:, :tail])
    return maxima


def _candidates(
    scores: npt.NDArray[np.float32], maxima: npt.NDArray[np.float32], cut: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """(row, column, score) of every cell scoring >= its row's cut, row-major order."""
    n = scores.shape[1]
    groups = maxima.shape[1]
    rows, group = np.nonzero(maxima >= cut[:, None])
    cols = group[:, None] + groups * np.arange(-(-n // groups), dtype=np.int64)
    inside = cols < n
    vals = scores.ravel()[rows[:, None] * n + np.minimum(cols, n - 1)]
    keep = inside & (vals >= cut[rows][:, None])
    return np.broadcast_to(rows[:, None], cols.shape)[keep], cols[keep], vals[keep]


def argpartition_top_k(
    scores: npt.NDArray[np.float32],
    mask_rows: npt.NDArray[np.int64],
    mask_cols: npt.NDArray[np.int64],
    k: int,
) -> TopK:
    """The reference kernel: masked copy, argpartition, exact redo of rows tied at the cut."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    scores[:, 0] = -np.inf
    scores[mask_rows, mask_cols] = -np.inf
    k = min(k, scores.shape[1] - 1)
    part = np.argpartition(scores, -k, axis=1)[:, -k:]
    vals = np.take_along_axis(scores, part, axis=1)
    # Equal scores rank by column, also across the k-th place: argpartition picks an arbitrary
    # subset of a tie there, so rows with such a tie (rare: floats rarely tie) are redone.
    kth = vals.min(axis=1)
    for row in np.nonzero((scores >= kth[:, None]).sum(axis=1) > k)[0]:
        cols = np.nonzero(scores[row] >= kth[row])[0]
        part[row] = cols[np.lexsort((cols, -scores[row, cols]))[:k]]
        vals[row] = scores[row, part[row]]
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)
