"""Per-user feature state and the one function that turns it into model input.

Pure code: no Kafka, no event loop. Training (``app.training``) and the stream call the same
``history_matrix`` so the model sees identical inputs offline and online.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from app.features.window import known_window
from app.records import Interaction

__all__ = [
    "EVENT_LETTERS",
    "FEATURE_KIND",
    "MAX_EVENT_IDS",
    "MAX_RECENT",
    "MAX_SEEN",
    "UserFeatureState",
    "apply",
    "history_matrix",
    "is_duplicate",
    "is_replay",
    "seen_coordinates",
    "state_from_items",
]


# The one feature layout the stream produces (a manifest's feature_spec.kind): item columns
# of the user's recent events, oldest first, left-padded with 0 to ``max_len``.
FEATURE_KIND = "recent_items"
# Longest history any model may ask for; models take the last ``max_len`` <= this.
MAX_RECENT = 200
# Items remembered for masking already-seen items; bounded so state cannot grow without end.
MAX_SEEN = 2000
# Event ids remembered to reject a record sent twice (a producer retry lands close behind).
MAX_EVENT_IDS = 16
# One letter per event type in ``UserFeatureState.recent_events``: compact in every state.
EVENT_LETTERS = {"view": "v", "click": "c", "cart": "a", "purchase": "p", "rate": "r"}


# Fields only appended, with defaults: the changelog encodes states as arrays (by position,
# app.worker.codecs), so a state written before a field existed decodes with its default.
class UserFeatureState(msgspec.Struct, frozen=True):
    """What the model and the views need to know about one user; the features table value."""

    recent: tuple[str, ...] = ()
    """Item ids of the last ``MAX_RECENT`` events, oldest first (repeats kept)."""
    seen: tuple[str, ...] = ()
    """Distinct item ids the user interacted with, oldest first (at most ``MAX_SEEN``)."""
    counts: dict[str, int] = {}
    """Events by type."""
    n_events: int = 0
    last_ts: float = 0.0
    last_event_id: str = ""
    last_partition: int = -1
    last_offset: int = -1
    """Input position of the last applied event: a replayed record is not applied twice."""
    recommended: tuple[str, ...] = ()
    """Item ids of the last update emitted for the user (for prequential quality)."""
    event_ids: tuple[str, ...] = ()
    """Ids of the last ``MAX_EVENT_IDS`` applied events, oldest first."""
    shadow_recommended: tuple[str, ...] = ()
    """Item ids of the shadow model's last update (its prequential quality), if one runs."""
    recent_ratings: tuple[int | float, ...] = ()
    """Rating of each recent event (0 without one), aligned with the end of ``recent`` (a
    state written before these fields existed has fewer: builders pad the start). Whole
    ratings are kept as ints: 1 byte each in the changelog instead of 9."""
    recent_events: str = ""
    """Type of each recent event, one letter each (``EVENT_LETTERS``), aligned the same way."""
    recent_ts: tuple[int, ...] = ()
    """Time of each recent event in whole unix seconds (5 bytes each, not 9), aligned too."""


def is_replay(state: UserFeatureState, event: Interaction) -> bool:
    """Was this very record (same partition, not past the last offset) applied already?

    After a crash Faust re-delivers records since the last commit: they are not applied
    twice, but their updates are emitted again (the first copies may not have left).
    """
    return event.partition == state.last_partition and event.offset <= state.last_offset


def is_duplicate(state: UserFeatureState, event: Interaction) -> bool:
    """Is this a new record carrying an event id the user already sent (a producer retry)?"""
    return not is_replay(state, event) and event.event_id in state.event_ids


def apply(
    state: UserFeatureState, event: Interaction, *, event_fields: bool = True
) -> UserFeatureState:
    """Return the state after ``event``; a record already applied (a replay) changes nothing.

    ``event_fields=False`` (no served model reads ratings, types or times) drops the per-event
    fields instead of extending them: smaller states, and no stale values out of line with
    ``recent`` when a model that reads them is served again (builders pad the missing start).
    """
    if is_replay(state, event):
        return state
    recent = (*state.recent[-(MAX_RECENT - 1) :], event.item_id)
    seen = state.seen
    if event.item_id not in seen:
        seen = (*seen[-(MAX_SEEN - 1) :], event.item_id)
    counts = dict(state.counts)
    counts[event.event] = counts.get(event.event, 0) + 1
    keep = MAX_RECENT - 1
    return UserFeatureState(
        recent=recent,
        seen=seen,
        counts=counts,
        n_events=state.n_events + 1,
        last_ts=max(state.last_ts, event.ts),
        last_event_id=event.event_id,
        last_partition=event.partition,
        last_offset=event.offset,
        recommended=state.recommended,
        event_ids=(*state.event_ids[-(MAX_EVENT_IDS - 1) :], event.event_id),
        shadow_recommended=state.shadow_recommended,
        recent_ratings=(
            (*state.recent_ratings[-keep:], _compact(event.rating or 0)) if event_fields else ()
        ),
        recent_events=(
            state.recent_events[-keep:] + EVENT_LETTERS.get(event.event, "?")
            if event_fields
            else ""
        ),
        recent_ts=(*state.recent_ts[-keep:], int(event.ts)) if event_fields else (),
    )


def _compact(value: float) -> int | float:
    return int(value) if value == int(value) else value


def state_from_items(items: Sequence[str]) -> UserFeatureState:
    """The model inputs of a user whose history is ``items`` (oldest first), for a request
    that sends a history instead of naming a user."""
    seen = tuple(dict.fromkeys(items))
    return UserFeatureState(recent=tuple(items[-MAX_RECENT:]), seen=seen[-MAX_SEEN:])


def history_matrix(
    histories: Sequence[Sequence[str]], vocab: Mapping[str, int], max_len: int
) -> npt.NDArray[np.int64]:
    """Model input: last ``max_len`` known items per row, left-padded with 0 (unknown = dropped)."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    window = known_window(histories, vocab, max_len)
    out[window.rows, window.columns] = window.ids
    return out


def seen_coordinates(
    seens: Sequence[Sequence[str]], vocab: Mapping[str, int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(rows, columns) of the score matrix to mask because the user already saw that item."""
    # One C-level pass over all the batch's items (this runs for every item a user has seen).
    lengths = np.fromiter(map(len, seens), dtype=np.int64, count=len(seens))
    cols = np.fromiter(
        map(vocab.get, itertools.chain.from_iterable(seens), itertools.repeat(0)),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    rows = np.repeat(np.arange(len(seens), dtype=np.int64), lengths)
    known = cols != 0
    return rows[known], cols[known]
