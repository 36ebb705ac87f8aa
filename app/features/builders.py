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

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from app.features.state import EVENT_LETTERS, UserFeatureState, history_matrix

__all__ = [
    "AGE_UNKNOWN_S", "BUILDERS", "EVENT_CODES", "FeatureBuilder", "build_inputs", "state_fields",
]  # fmt: skip

AGE_UNKNOWN_S = 1e9
"""``recent_age_s`` of an event whose time the state does not hold: about 30 years."""

# Event type codes of ``recent_event_types`` (0 = padding).
EVENT_CODES = {letter: n for n, letter in enumerate(EVENT_LETTERS.values(), start=1)}

Array = npt.NDArray[np.int64] | npt.NDArray[np.float32]
Window = list[list[int]]
"""Per row, the positions in ``recent`` of the window's events, oldest first."""
Fill = Callable[
    [Sequence[UserFeatureState], Window, Mapping[str, int], npt.NDArray[np.generic]], None
]


class FeatureBuilder(NamedTuple):
    """How one model input is made from user states."""

    datatype: str
    """Open Inference Protocol datatype of the array (``INT64`` or ``FP32``)."""
    reads: tuple[str, ...]
    """The state fields it reads (the prediction cache key covers exactly these)."""
    fill: Fill
    """Writes the values of the window's positions into the (zeroed) output array."""


def _window(states: Sequence[UserFeatureState], vocab: Mapping[str, int], max_len: int) -> Window:
    # Unknown items (not in this model's vocabulary) carry no signal for it: skipped, so the
    # window holds the last ``max_len`` events the model can read (as ``history_matrix``).
    window = []
    get = vocab.get
    for state in states:
        positions: list[int] = []
        recent = state.recent
        for p in range(len(recent) - 1, -1, -1):
            if get(recent[p], 0):
                positions.append(p)
                if len(positions) == max_len:
                    break
        window.append(positions[::-1])
    return window


def _aligned(
    values: Callable[[UserFeatureState], Sequence[float] | Sequence[int] | Sequence[str]],
    convert: Callable[[UserFeatureState, float | str, Mapping[str, int]], float],
    missing: float = 0.0,
) -> Fill:
    """A fill for a per-event field kept aligned with the end of ``recent`` (or ``recent``);
    ``missing`` where the state holds no value for a window event (left padding stays 0)."""

    def fill(
        states: Sequence[UserFeatureState],
        window: Window,
        vocab: Mapping[str, int],
        out: npt.NDArray[np.generic],
    ) -> None:
        width = out.shape[1]
        for row, (state, positions) in enumerate(zip(states, window, strict=True)):
            field = values(state)
            # Older states may hold fewer per-event values than items: their start is padding.
            shift = len(state.recent) - len(field)
            start = width - len(positions)
            for j, p in enumerate(positions):
                if p >= shift:
                    out[row, start + j] = convert(state, field[p - shift], vocab)
                elif missing:
                    out[row, start + j] = missing

    return fill


BUILDERS: dict[str, FeatureBuilder] = {
    "recent_items": FeatureBuilder(
        "INT64",
        ("recent",),
        _aligned(lambda s: s.recent, lambda s, v, vocab: vocab[str(v)]),
    ),
    "recent_ratings": FeatureBuilder(
        "FP32",
        ("recent", "recent_ratings"),
        _aligned(lambda s: s.recent_ratings, lambda s, v, vocab: float(v)),
    ),
    "recent_event_types": FeatureBuilder(
        "INT64",
        ("recent", "recent_events"),
        _aligned(lambda s: s.recent_events, lambda s, v, vocab: EVENT_CODES.get(str(v), 0)),
    ),
    "recent_age_s": FeatureBuilder(
        "FP32",
        ("recent", "recent_ts", "last_ts"),
        # Seconds from each event to the user's latest one: fixed once the event is in (not
        # "now"), so the same state always gives the same input, offline and online. An event
        # whose time the state does not hold (an inference request by history, events from
        # before a model reading times served) reads as long ago, not as "just now": the
        # hybrid's EASE would otherwise take a whole history for the burst in progress
        # (test HR@10 0.2545 -> 0.199 with every age 0, 0.237 with every age long ago).
        _aligned(
            lambda s: s.recent_ts,
            lambda s, v, vocab: max(0, int(s.last_ts) - int(v)),
            missing=AGE_UNKNOWN_S,
        ),
    ),
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
    if list(builders.values()) == ["recent_items"]:
        # Most models read the items only: ``history_matrix`` is the same window, faster.
        ((tensor, _),) = builders.items()
        return {tensor: history_matrix([s.recent for s in states], vocab, max_len)}
    out: dict[str, Array] = {}
    window = _window(states, vocab, max_len)
    for tensor, name in builders.items():
        builder = BUILDERS[name]
        array = np.zeros((len(states), max_len), dtype=_DTYPES[builder.datatype])
        builder.fill(states, window, vocab, array)
        out[tensor] = array
    return out


def state_fields(builders: Mapping[str, str]) -> tuple[str, ...]:
    """The state fields the given builders read, in a stable order."""
    return tuple(sorted({f for name in builders.values() for f in BUILDERS[name].reads}))
