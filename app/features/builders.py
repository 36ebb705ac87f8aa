"""Model inputs from user states: named feature builders, chosen by each model's manifest.

A manifest maps each input tensor of the graph to a builder here (``feature_spec.inputs``).
Every builder returns a ``[batch, max_len]`` array over the same window: the user's last
``max_len`` events whose item the model knows, oldest first, left-padded (0). So ``ratings``
position *j* is the rating of the item at ``items`` position *j*. Training, the stream, the
inference API and the prediction cache all go through ``build_inputs``: a model sees the same
inputs offline and online.

To serve a model that reads something else, add a builder to ``BUILDERS`` (and, if it needs a
new per-event field, that field to ``UserFeatureState`` and ``features.apply``).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from app.features.state import EVENT_LETTERS, UserFeatureState
from app.features.window import Window, known_window

__all__ = [
    "AGE_UNKNOWN_S", "BUILDERS", "EVENT_CODES", "FeatureBuilder", "build_inputs", "state_fields",
]  # fmt: skip

AGE_UNKNOWN_S = 1e9
"""``recent_age_s`` of an event whose time the state does not hold: about 30 years."""

# Event type codes of ``recent_event_types`` (0 = padding).
EVENT_CODES = {letter: n for n, letter in enumerate(EVENT_LETTERS.values(), start=1)}

Array = npt.NDArray[np.int64] | npt.NDArray[np.float32]
Fill = Callable[[Sequence[UserFeatureState], Window, npt.NDArray[np.generic]], None]


class FeatureBuilder(NamedTuple):
    """How one model input is made from user states."""

    datatype: str
    """Open Inference Protocol datatype of the array (``INT64`` or ``FP32``)."""
    reads: tuple[str, ...]
    """The state fields it reads (the prediction cache key covers exactly these)."""
    fill: Fill
    """Writes the values of the window's events into the (zeroed) output array."""


def _aligned_values(
    window: Window,
    fields: Sequence[Sequence[Any]],
    dtype: type[np.generic],
    convert: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The values of a per-event field at the window's events, and which events have one.

    A field is aligned with the end of ``recent``: older states may hold fewer values than
    items (their oldest events have none), and values before the start of ``recent`` are
    never read."""
    lengths = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields))
    # Only a row's last ``span`` values can be in its window: convert those, not the rest.
    tail = np.minimum(lengths, window.span)
    starts = map(slice, (lengths - tail).tolist(), itertools.repeat(None))
    flat = itertools.chain.from_iterable(map(operator.getitem, fields, starts))
    values = np.fromiter(convert(flat) if convert else flat, dtype=dtype, count=int(tail.sum()))
    has = window.from_end <= tail[window.rows]
    ends = np.cumsum(tail)
    return values[(ends[window.rows] - window.from_end)[has]], has


def _items(states: Sequence[UserFeatureState], window: Window, out: npt.NDArray[Any]) -> None:
    out[window.rows, window.columns] = window.ids


def _aligned(
    field: str,
    dtype: type[np.generic],
    convert: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> Fill:
    """A fill for a per-event field: 0 where the state holds no value for a window event."""
    values_of = operator.attrgetter(field)

    def fill(states: Sequence[UserFeatureState], window: Window, out: npt.NDArray[Any]) -> None:
        values, has = _aligned_values(window, list(map(values_of, states)), dtype, convert)
        # Assigning float64 into the float32 output rounds as ``float(v)`` into it did.
        out[window.rows[has], window.columns[has]] = values

    return fill


def _event_codes(letters: Iterable[str]) -> Iterable[int]:
    return map(EVENT_CODES.get, letters, itertools.repeat(0))


def _ages(states: Sequence[UserFeatureState], window: Window, out: npt.NDArray[Any]) -> None:
    # Seconds from each event to the user's latest one: fixed once the event is in (not
    # "now"), so the same state always gives the same input, offline and online. An event
    # whose time the state does not hold (an inference request by history, events from
    # before a model reading times served) reads as long ago, not as "just now": the
    # hybrid's EASE would otherwise take a whole history for the burst in progress
    # (test HR@10 0.2545 -> 0.199 with every age 0, 0.237 with every age long ago).
    # Whole seconds fit int64, and ages float32 as the Python ints did (both exact below
    # 2**53; the record contract bounds ts to 1e11).
    ts, has = _aligned_values(window, list(map(operator.attrgetter("recent_ts"), states)), np.int64)
    last = np.fromiter(
        map(int, map(operator.attrgetter("last_ts"), states)), dtype=np.int64, count=len(states)
    )
    rows, columns = window.rows, window.columns
    out[rows[has], columns[has]] = np.maximum(last[rows[has]] - ts, 0)
    out[rows[~has], columns[~has]] = AGE_UNKNOWN_S


BUILDERS: dict[str, FeatureBuilder] = {
    "recent_items": FeatureBuilder("INT64", ("recent",), _items),
    "recent_ratings": FeatureBuilder(
        "FP32", ("recent", "recent_ratings"), _aligned("recent_ratings", np.float64)
    ),
    "recent_event_types": FeatureBuilder(
        "INT64", ("recent", "recent_events"), _aligned("recent_events", np.int64, _event_codes)
    ),
    "recent_age_s": FeatureBuilder("FP32", ("recent", "recent_ts", "last_ts"), _ages),
}
"""Every input the stream can build, by name (a manifest's ``feature_spec.inputs`` values)."""

_DTYPES = {"INT64": np.int64, "FP32": np.float32}


def build_inputs(
    states: Sequence[UserFeatureState],
    builders: Mapping[str, str],
    vocab: Mapping[str, int],
    max_len: int,
) -> dict[str, Array]:
    """Input tensor name -> ``[len(states), max_len]`` array, from each tensor's builder."""
    window = known_window(list(map(operator.attrgetter("recent"), states)), vocab, max_len)
    out: dict[str, Array] = {}
    for tensor, name in builders.items():
        builder = BUILDERS[name]
        array = np.zeros((len(states), max_len), dtype=_DTYPES[builder.datatype])
        builder.fill(states, window, array)
        out[tensor] = array
    return out


def state_fields(builders: Mapping[str, str]) -> tuple[str, ...]:
    """The state fields the given builders read, in a stable order."""
    return tuple(sorted({f for name in builders.values() for f in BUILDERS[name].reads}))
