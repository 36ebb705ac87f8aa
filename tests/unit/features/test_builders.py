"""Feature builders: every input over the same window of known items, aligned, left-padded."""

from __future__ import annotations

import numpy as np

from app.features.builders import (
    AGE_UNKNOWN_S,
    BUILDERS,
    EVENT_CODES,
    build_inputs,
    state_fields,
)
from app.features.state import UserFeatureState, apply, history_matrix
from app.records import Interaction

VOCAB = {"a": 1, "b": 2, "c": 3}
ALL = {"items": "recent_items", "ratings": "recent_ratings", "types": "recent_event_types",
       "ages": "recent_age_s"}  # fmt: skip


def events(*rows: tuple[str, str, float | None, float]) -> UserFeatureState:
    state = UserFeatureState()
    for offset, (item, kind, rating, ts) in enumerate(rows):
        state = apply(state, Interaction("u", item, kind, rating, ts, f"e{offset}", 0, offset))
    return state


def test_every_input_reads_the_same_window_of_known_items() -> None:
    state = events(
        ("a", "view", None, 100.0), ("zzz", "rate", 1.0, 110.0),  # unknown item: skipped
        ("b", "rate", 4.0, 130.0), ("c", "purchase", None, 160.0),
    )  # fmt: skip
    got = build_inputs([state], ALL, VOCAB, max_len=4)
    assert got["items"].tolist() == [[0, 1, 2, 3]]
    assert got["ratings"].tolist() == [[0.0, 0.0, 4.0, 0.0]]
    assert got["types"].tolist() == [[0, EVENT_CODES["v"], EVENT_CODES["r"], EVENT_CODES["p"]]]
    assert got["ages"].tolist() == [[0.0, 60.0, 30.0, 0.0]]
    assert got["items"].dtype == np.int64 and got["ratings"].dtype == np.float32
    # Shorter windows keep the newest events.
    short = build_inputs([state], ALL, VOCAB, max_len=2)
    assert short["items"].tolist() == [[2, 3]] and short["ages"].tolist() == [[30.0, 0.0]]


def test_the_items_builder_is_history_matrix_alone_or_with_others() -> None:
    states = [events(("a", "view", None, 1.0), ("b", "view", None, 2.0)), UserFeatureState()]
    alone = build_inputs(states, {"history": "recent_items"}, VOCAB, max_len=3)["history"]
    together = build_inputs(states, ALL, VOCAB, max_len=3)["items"]
    expected = history_matrix([s.recent for s in states], VOCAB, 3)
    assert alone.tolist() == together.tolist() == expected.tolist()


def test_a_state_from_before_the_per_event_fields_pads_them() -> None:
    old = UserFeatureState(recent=("a", "b"), seen=("a", "b"))  # written by an older release
    got = build_inputs([old], ALL, VOCAB, max_len=3)
    assert got["items"].tolist() == [[0, 1, 2]]
    assert got["ratings"].tolist() == [[0.0, 0.0, 0.0]]
    # An event without a time reads as long ago, not as the latest (age 0).
    assert got["ages"].tolist() == [[0.0, AGE_UNKNOWN_S, AGE_UNKNOWN_S]]
    newer = apply(old, Interaction("u", "c", "rate", 5.0, 9.0, "e", 0, 0))
    got = build_inputs([newer], ALL, VOCAB, max_len=3)
    assert got["ratings"].tolist() == [[0.0, 0.0, 5.0]]
    assert got["ages"].tolist() == [[AGE_UNKNOWN_S, AGE_UNKNOWN_S, 0.0]]


def test_the_cache_key_covers_what_the_builders_read() -> None:
    assert state_fields({"history": "recent_items"}) == ("recent",)
    assert state_fields(ALL) == ("last_ts", "recent", "recent_events", "recent_ratings",
                                 "recent_ts")  # fmt: skip
    assert all(b.datatype in ("INT64", "FP32") for b in BUILDERS.values())
