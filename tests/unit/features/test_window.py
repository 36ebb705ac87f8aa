"""The vectorised window and builders give exactly what the per-event loops they replaced gave.

``reference_*`` below is that earlier implementation, kept here only as the oracle; the
random states cover what the stream can hold (unknown items, per-event fields shorter or
longer than ``recent``, int and float ratings, unknown event letters, empty states).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from app.features.builders import AGE_UNKNOWN_S, BUILDERS, EVENT_CODES, build_inputs
from app.features.state import MAX_RECENT, UserFeatureState, history_matrix
from app.features.window import known_window

Convert = Callable[[UserFeatureState, object, Mapping[str, int]], float]
REFERENCE: dict[str, tuple[type, str, Convert, float]] = {
    # builder -> (dtype, state field, convert, missing), as the old ``BUILDERS`` had them
    "recent_items": (np.int64, "recent", lambda s, v, vocab: vocab[str(v)], 0.0),
    "recent_ratings": (np.float32, "recent_ratings", lambda s, v, vocab: float(v), 0.0),
    "recent_event_types": (
        np.int64, "recent_events", lambda s, v, vocab: EVENT_CODES.get(str(v), 0), 0.0,
    ),
    "recent_age_s": (
        np.float32, "recent_ts", lambda s, v, vocab: max(0, int(s.last_ts) - int(v)),
        AGE_UNKNOWN_S,
    ),
}  # fmt: skip


def reference_history_matrix(
    histories: Sequence[Sequence[str]], vocab: Mapping[str, int], max_len: int
) -> npt.NDArray[np.int64]:
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, items in enumerate(histories):
        known: list[int] = []
        for item in reversed(items):
            if idx := vocab.get(item, 0):
                known.append(idx)
                if len(known) == max_len:
                    break
        if known:
            out[row, max_len - len(known) :] = known[::-1]
    return out


def reference_build_inputs(
    states: Sequence[UserFeatureState],
    builders: Mapping[str, str],
    vocab: Mapping[str, int],
    max_len: int,
) -> dict[str, npt.NDArray[np.generic]]:
    window = []
    for state in states:
        positions: list[int] = []
        for p in range(len(state.recent) - 1, -1, -1):
            if vocab.get(state.recent[p], 0):
                positions.append(p)
                if len(positions) == max_len:
                    break
        window.append(positions[::-1])
    out = {}
    for tensor, name in builders.items():
        dtype, field_name, convert, missing = REFERENCE[name]
        array = np.zeros((len(states), max_len), dtype=dtype)
        for row, (state, positions) in enumerate(zip(states, window, strict=True)):
            field = getattr(state, field_name)
            shift = len(state.recent) - len(field)
            start = max_len - len(positions)
            for j, p in enumerate(positions):
                if p >= shift:
                    array[row, start + j] = convert(state, field[p - shift], vocab)
                elif missing:
                    array[row, start + j] = missing
        out[tensor] = array
    return out


def random_vocab(rng: random.Random, pool: Sequence[str]) -> dict[str, int]:
    known = rng.sample(pool, rng.randint(0, len(pool)))
    ids = rng.sample(range(1, 10 * len(pool) + 2), len(known))  # any distinct ids, not 1..n
    return dict(zip(known, ids, strict=True))


def random_field(rng: random.Random, n: int, value: Callable[[], object]) -> list[object]:
    # Mostly aligned with ``recent``; else shorter (a state from before the field existed,
    # or one whose fields were dropped) or, defensively, longer.
    length = rng.choice([n, n, n, rng.randint(0, n), n + rng.randint(1, 5)])
    return [value() for _ in range(length)]


def random_state(rng: random.Random, pool: Sequence[str]) -> UserFeatureState:
    if rng.random() < 0.1:
        return UserFeatureState()
    n = rng.choice([rng.randint(0, 80), MAX_RECENT])
    recent = tuple(rng.choice(pool) for _ in range(n))
    last_ts = rng.uniform(0, 1e11)

    def rating() -> object:
        return rng.choice(
            [0, rng.randint(1, 5), rng.randint(-(10**6), 10**6), rng.uniform(-1e6, 1e6)]
        )

    def ts() -> object:  # mostly before the latest event, some after (age clamps to 0)
        return int(last_ts) - rng.choice([0, rng.randint(0, 10**6), rng.randint(-100, 100)])

    return UserFeatureState(
        recent=recent,
        seen=tuple(dict.fromkeys(recent)),
        last_ts=last_ts,
        recent_ratings=tuple(random_field(rng, n, rating)),
        recent_events="".join(random_field(rng, n, lambda: rng.choice("vcapr?xé"))),
        recent_ts=tuple(random_field(rng, n, ts)),
    )


def assert_same(
    got: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], case: str
) -> None:
    assert got.keys() == expected.keys(), case
    for tensor, array in expected.items():
        assert got[tensor].dtype == array.dtype, (case, tensor)
        np.testing.assert_array_equal(got[tensor], array, err_msg=f"{case} {tensor}")


def test_build_inputs_equals_the_per_event_loops_on_random_states() -> None:
    names = sorted(BUILDERS)
    for seed in range(400):
        rng = random.Random(seed)
        pool = [f"i{k}" for k in range(rng.randint(1, 40))]
        vocab = random_vocab(rng, pool)
        states = [random_state(rng, pool) for _ in range(rng.randint(0, 12))]
        max_len = rng.randint(1, 60)
        chosen = rng.sample(names, rng.randint(1, len(names)))
        builders = {f"t{k}": name for k, name in enumerate(chosen)}
        expected = reference_build_inputs(states, builders, vocab, max_len)
        assert_same(build_inputs(states, builders, vocab, max_len), expected, f"seed {seed}")


def test_history_matrix_equals_the_per_item_loop_on_random_histories() -> None:
    for seed in range(400):
        rng = random.Random(seed)
        pool = [f"i{k}" for k in range(rng.randint(1, 40))]
        vocab = random_vocab(rng, pool)
        histories = [
            [rng.choice(pool) for _ in range(rng.choice([0, rng.randint(1, 80), MAX_RECENT]))]
            for _ in range(rng.randint(0, 12))
        ]
        max_len = rng.randint(1, 60)
        got = history_matrix(histories, vocab, max_len)
        expected = reference_history_matrix(histories, vocab, max_len)
        assert_same({"h": got}, {"h": expected}, f"seed {seed}")


def test_rows_whose_newest_items_are_unknown_reach_back_for_known_ones() -> None:
    # The window looks up each row's last max_len items first, and older ones only for rows
    # where those hold unknown items (up to two more passes): rows needing 1, 3 and 3 here.
    vocab = {"a": 1, "b": 2, "c": 3}
    histories = [("a", "b", "c", "a"), ("a", "b", "x", "y", "z"), ("x",) * 9, ()]
    window = known_window(histories, vocab, 2)
    assert sorted(zip(window.rows.tolist(), window.columns.tolist(), window.ids.tolist(),
                      window.from_end.tolist(), strict=True)) == [
        (0, 0, 3, 2), (0, 1, 1, 1), (1, 0, 1, 5), (1, 1, 2, 4),
    ]  # fmt: skip
    assert window.span.tolist() == [2, 5, 9, 0]
    assert history_matrix(histories, vocab, 2).tolist() == [[3, 1], [1, 2], [0, 0], [0, 0]]
