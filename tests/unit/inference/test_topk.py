"""The new top-K kernels give exactly the former argpartition kernel's answer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from app.inference import topk
from app.inference.batcher import top_k
from app.inference.topk import (
    argpartition_top_k,
    exhaustive_top_k,
    group_count,
    grouped_top_k,
    onnx_top_k,
)

Ints = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
Kernel = Callable[[Scores, Ints, Ints, int], tuple[Ints, Scores]]
NEW = pytest.mark.parametrize("kernel", [grouped_top_k, onnx_top_k, exhaustive_top_k])


def definition(scores: Scores, rows: Ints, cols: Ints, k: int) -> tuple[Ints, Scores]:
    """The rule itself: a full stable sort by (score desc, column), masked cells -inf."""
    masked = np.array(scores, dtype=np.float32, copy=True)
    masked[:, 0] = -np.inf
    masked[rows, cols] = -np.inf
    k = min(k, masked.shape[1] - 1)
    column = np.broadcast_to(np.arange(masked.shape[1]), masked.shape)
    order = np.lexsort((column, -masked), axis=1)[:, :k]
    return order, np.take_along_axis(masked, order, axis=1)


def random_case(
    rng: np.random.Generator, batch: int, n: int, levels: int | None, most_seen: int
) -> tuple[Scores, Ints, Ints]:
    """Scores (``levels`` distinct values: ties everywhere; None: continuous), random masks."""
    if levels is None:
        scores = rng.standard_normal((batch, n), dtype=np.float32)
    else:
        scores = rng.integers(0, levels, (batch, n)).astype(np.float32)
    counts = rng.integers(0, most_seen + 1, batch)
    rows = np.repeat(np.arange(batch, dtype=np.int64), counts)
    # Duplicates and column 0 included: the seen list is not promised to avoid them.
    cols = rng.integers(0, n, int(counts.sum())).astype(np.int64)
    return scores, rows, cols


def assert_same(got: tuple[Ints, Scores], want: tuple[Ints, Scores]) -> None:
    assert got[0].dtype == np.int64 and got[1].dtype == np.float32
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("n", [1_536, 1_682, 5_003, 20_000, 30_011])
@pytest.mark.parametrize("levels", [None, 3, 50])
def test_matches_the_definition_and_the_former_kernel(n: int, levels: int | None) -> None:
    rng = np.random.default_rng(n * 100 + (levels or 0))
    assert group_count(n, 10) is not None  # the grouped path, not its fallback
    for k in (1, 10, 37, 400):
        scores, rows, cols = random_case(rng, 24, n, levels, most_seen=n // 2)
        want = definition(scores, rows, cols, k)
        assert_same(grouped_top_k(scores, rows, cols, k), want)
        assert_same(onnx_top_k(scores, rows, cols, k), want)
        assert_same(argpartition_top_k(scores, rows, cols, k), want)
        assert_same(top_k(scores, rows, cols, k), want)


@NEW
def test_rows_with_fewer_than_k_unseen_items_fill_with_masked_by_column(kernel: Kernel) -> None:
    rng = np.random.default_rng(7)
    n, k = 2_000, 10
    scores = rng.standard_normal((3, n), dtype=np.float32)
    # Row 0 sees all but 4 items, row 1 all but 12, row 2 all of them.
    unseen = {0: [5, 900, 901, 1999], 1: list(range(100, 112)), 2: []}
    rows = np.concatenate([np.full(n - 1 - len(u), r) for r, u in unseen.items()])
    cols = np.concatenate([np.setdiff1d(np.arange(1, n), u) for u in unseen.values()])
    idx, vals = kernel(scores, rows, cols, k)
    assert_same((idx, vals), definition(scores, rows, cols, k))
    assert sorted(idx[0, :4].tolist()) == unseen[0]
    assert idx[0, 4:].tolist() == [0, 1, 2, 3, 4, 6]  # -inf places: lowest columns first
    assert np.isfinite(vals[1]).all()
    assert idx[2].tolist() == list(range(k)) and np.isneginf(vals[2]).all()


@NEW
def test_infinite_scores_and_whole_rows_of_one_value(kernel: Kernel) -> None:
    n = 3_000
    scores = np.zeros((4, n), dtype=np.float32)
    scores[1, [7, 2_500]] = np.inf
    scores[2, :] = -np.inf
    scores[3, 1_000:] = -np.inf
    rows, cols = np.array([1, 3], dtype=np.int64), np.array([2_500, 5], dtype=np.int64)
    assert_same(kernel(scores, rows, cols, 10), definition(scores, rows, cols, 10))


@NEW
def test_nan_scores_keep_the_former_behaviour(kernel: Kernel) -> None:
    rng = np.random.default_rng(3)
    scores, rows, cols = random_case(rng, 8, 4_000, None, most_seen=50)
    scores[2, [10, 20, 3_999]] = np.nan
    assert_same(kernel(scores, rows, cols, 10), argpartition_top_k(scores, rows, cols, 10))


@pytest.mark.parametrize(("n", "k"), [(2, 10), (50, 10), (1_682, 200), (20_000, 1_000)])
@NEW
def test_small_catalogs_and_large_k_match_the_former_kernel(n: int, k: int, kernel: Kernel) -> None:
    rng = np.random.default_rng(n + k)
    scores, rows, cols = random_case(rng, 5, n, 7, most_seen=min(n, 30))
    assert_same(kernel(scores, rows, cols, k), argpartition_top_k(scores, rows, cols, k))


@pytest.mark.parametrize(("n", "k"), [(1, 10), (4_000, 0)])
def test_no_place_to_fill_fails_as_before(n: int, k: int) -> None:
    """k = 0 (the settings and the API refuse it) or only the padding column: a ValueError."""
    scores, none = np.ones((2, n), dtype=np.float32), np.array([], dtype=np.int64)
    with pytest.raises(ValueError):
        argpartition_top_k(scores, none, none, k)
    for kernel in (grouped_top_k, onnx_top_k, top_k):
        with pytest.raises(ValueError):
            kernel(scores, none, none, k)


@NEW
def test_negative_and_out_of_range_masks_behave_as_before(kernel: Kernel) -> None:
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((2, 4_000), dtype=np.float32)
    rows, cols = np.array([0, 1], dtype=np.int64), np.array([-1, 3], dtype=np.int64)
    assert_same(kernel(scores, rows, cols, 5), argpartition_top_k(scores, rows, cols, 5))
    with pytest.raises(IndexError):
        kernel(scores, np.array([0]), np.array([4_000]), 5)


@NEW
def test_an_empty_batch_and_other_input_layouts(kernel: Kernel) -> None:
    empty = np.empty((0, 4_000), dtype=np.float32)
    none = np.array([], dtype=np.int64)
    assert kernel(empty, none, none, 10)[0].shape == (0, 10)
    rng = np.random.default_rng(5)
    wide = rng.standard_normal((4_000, 6))  # float64, and a transposed (strided) view
    rows, cols = np.array([1, 1, 4], dtype=np.int64), np.array([9, 2, 3_999], dtype=np.int64)
    want = definition(wide.T.astype(np.float32), rows, cols, 10)
    assert_same(kernel(wide.T, rows, cols, 10), want)


@pytest.mark.parametrize("kernel", [grouped_top_k, onnx_top_k])
def test_the_fast_paths_neither_fall_back_nor_change_the_scores(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def former(*args: object) -> None:
        raise AssertionError("fell back to argpartition")

    monkeypatch.setattr(topk, "argpartition_top_k", former)
    rng = np.random.default_rng(2)
    scores, rows, cols = random_case(rng, 16, 30_000, None, most_seen=700)
    before = scores.copy()
    assert_same(kernel(scores, rows, cols, 10), definition(before, rows, cols, 10))
    np.testing.assert_array_equal(scores, before)


def test_onnxruntime_below_the_crossover_the_grouped_kernel_from_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[str] = []
    monkeypatch.setattr(topk, "onnx_top_k", lambda *a: used.append("onnx"))
    monkeypatch.setattr(topk, "grouped_top_k", lambda *a: used.append("grouped"))
    none = np.array([], dtype=np.int64)
    for n in (1_682, topk.GROUPED_FROM - 1, topk.GROUPED_FROM):
        top_k(np.zeros((1, n), dtype=np.float32), none, none, 10)
    assert used == ["onnx", "onnx", "grouped"]


def test_group_counts_are_powers_of_two_that_leave_room_for_masks() -> None:
    assert group_count(1_000, 10) is None  # argpartition is as fast there
    for n in (1_536, 1_682, 20_000, 100_000, 10_000_000):
        for k in (1, 10, 100, 1_000):
            groups = group_count(n, k)
            if groups is None:
                continue
            fine, coarse = groups
            assert fine % coarse == 0 and coarse & (coarse - 1) == 0
            assert coarse >= 4 * k and n >= 3 * coarse


def test_many_small_random_cases_with_tiny_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups shrunk so hundreds of small matrices exercise every shape: tails of every
    length, cuts on ties, rows whose groups are all masked."""
    monkeypatch.setattr(topk, "COARSE_GROUPS", 4)
    monkeypatch.setattr(topk, "FINE_GROUPS", 16)
    monkeypatch.setattr(topk, "COLUMNS_PER_FINE", 2)
    rng = np.random.default_rng(2024)
    grouped = 0
    for _ in range(600):
        n, k = int(rng.integers(2, 120)), int(rng.integers(1, 5))
        levels = [None, 2, 5][int(rng.integers(0, 3))]
        scores, rows, cols = random_case(rng, int(rng.integers(1, 6)), n, levels, n)
        grouped += group_count(n, k) is not None
        assert_same(grouped_top_k(scores, rows, cols, k), definition(scores, rows, cols, k))
    assert grouped > 400
