"""Feature state updates and the shared feature function."""

from __future__ import annotations

import numpy as np

from app.features.state import (
    MAX_EVENT_IDS,
    MAX_RECENT,
    MAX_SEEN,
    UserFeatureState,
    apply,
    history_matrix,
    is_duplicate,
    is_replay,
    seen_coordinates,
)
from app.records import Interaction


def event(
    item: str,
    offset: int,
    *,
    kind: str = "view",
    partition: int = 0,
    ts: float = 10.0,
    event_id: str | None = None,
) -> Interaction:
    return Interaction(
        user_id="u", item_id=item, event=kind, rating=None, ts=ts,
        event_id=event_id or f"e{offset}", partition=partition, offset=offset,
    )  # fmt: skip


def test_apply_appends_counts_and_remembers_position() -> None:
    state = apply(UserFeatureState(), event("a", 0))
    state = apply(state, event("b", 1, kind="click", ts=5.0))
    state = apply(state, event("a", 2))
    assert state.recent == ("a", "b", "a")
    assert state.seen == ("a", "b")
    assert state.counts == {"view": 2, "click": 1}
    assert state.n_events == 3
    assert state.last_ts == 10.0  # an older event does not move time back
    assert (state.last_event_id, state.last_partition, state.last_offset) == ("e2", 0, 2)


def test_apply_is_pure() -> None:
    before = apply(UserFeatureState(), event("a", 0))
    after = apply(before, event("b", 1))
    assert before.recent == ("a",) and before.counts == {"view": 1}
    assert after.recent == ("a", "b")


def test_replayed_record_is_not_applied_twice() -> None:
    state = apply(apply(UserFeatureState(), event("a", 5)), event("b", 6))
    assert apply(state, event("b", 6)) is state
    assert apply(state, event("a", 5)) is state
    # Same offset on another partition is another record.
    assert apply(state, event("c", 6, partition=1)).recent == ("a", "b", "c")


def test_a_record_sent_twice_is_a_duplicate_but_a_replay_is_not() -> None:
    state = apply(apply(UserFeatureState(), event("a", 5)), event("b", 6))
    # Faust re-delivering offset 6 after a crash: a replay, emitted again, not applied.
    assert is_replay(state, event("b", 6)) and not is_duplicate(state, event("b", 6))
    # A producer retry: same event id, new offset.
    resent = event("b", 7, event_id="e6")
    assert is_duplicate(state, resent) and not is_replay(state, resent)
    assert not is_duplicate(state, event("c", 7))


def test_remembered_event_ids_are_bounded() -> None:
    state = UserFeatureState()
    for i in range(MAX_EVENT_IDS + 5):
        state = apply(state, event(str(i), i))
    assert len(state.event_ids) == MAX_EVENT_IDS
    assert state.event_ids[-1] == f"e{MAX_EVENT_IDS + 4}"
    assert not is_duplicate(state, event("x", 10_000, event_id="e0"))  # forgotten by now


def test_state_is_bounded() -> None:
    state = UserFeatureState()
    for i in range(MAX_SEEN + 50):
        state = apply(state, event(str(i), i))
    assert len(state.recent) == MAX_RECENT
    assert state.recent[-1] == str(MAX_SEEN + 49)
    assert len(state.seen) == MAX_SEEN
    assert state.seen[0] == "50"


def test_history_matrix_left_pads_and_skips_unknown_items() -> None:
    vocab = {"a": 1, "b": 2, "c": 3}
    got = history_matrix([["a", "zzz", "b"], [], ["a", "b", "c", "a", "b"]], vocab, max_len=3)
    assert got.dtype == np.int64
    assert got.tolist() == [[0, 1, 2], [0, 0, 0], [3, 1, 2]]


def test_history_matrix_window_counts_known_items_only() -> None:
    vocab = {"a": 1, "b": 2}
    got = history_matrix([["a", "b", "x", "y", "z"]], vocab, max_len=2)
    assert got.tolist() == [[1, 2]]


def test_seen_coordinates() -> None:
    rows, cols = seen_coordinates([["a", "q"], [], ["b", "a"]], {"a": 1, "b": 2})
    assert rows.tolist() == [0, 2, 2]
    assert cols.tolist() == [1, 2, 1]
