"""Restoring the features table: from its changelog, and from the states the updates carry.

With ``STREAMREC_STATE_CHANGELOG=updates`` (the default) each user's last update of a batch
carries the user's state in a header (``app.pipeline.encode.STATE_HEADER``), and the features
table's own changelog is not written: the output topic is its changelog too, one record per
user and batch instead of two. Faust restores a changelog topic into one table only, and the
output topic already restores the ``latest`` table: so the latest table hands each batch it
restores (or reads as a standby) to ``StatesFromUpdates`` first, which writes the headers'
states into the features store. First, because applying a batch records the latest table's
offset: a restore stopped in between reads the states again, never skips them.

Both sources are always read, so that changing the setting loses nothing: a restore then
finds a user's state in both, restored side by side in no set order. A state is written over
another only if it counts as many events or more (``n_events`` only grows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import faust
from faust.types import EventT, Message

from app.deadletters.headers import header_pairs
from app.features.state import UserFeatureState
from app.pipeline.encode import STATE_HEADER
from app.worker.codecs import StructCodec
from app.worker.faust_compat import current_message

__all__ = ["FeaturesTable", "StatesFromUpdates", "TappedTable"]

logger = logging.getLogger(__name__)

Event = EventT[Any]


class TappedTable(faust.Table):  # type: ignore[type-arg,misc]  # faust's Table is untyped
    """A table that shows each changelog batch to ``tap`` before applying it."""

    tap: Callable[[Sequence[Event]], None] | None = None

    def apply_changelog_batch(self, batch: Iterable[Event]) -> None:
        events = list(batch)
        if self.tap is not None:
            self.tap(events)
        super().apply_changelog_batch(events)


class FeaturesTable(faust.Table):  # type: ignore[type-arg,misc]
    """The features table: a state from its changelog replaces only an older one (one the
    output topic's headers restored may be newer)."""

    codec: StructCodec | None = None

    def apply_changelog_batch(self, batch: Iterable[Event]) -> None:
        events = list(batch)
        if self.codec is not None:
            events = _not_older(self, self.codec, events)
        super().apply_changelog_batch(events)


class StatesFromUpdates:
    """The ``tap`` of the latest table: the states in a batch of updates, into ``features``."""

    def __init__(self, features: faust.Table[str, UserFeatureState], codec: StructCodec) -> None:
        self.features = features
        self.codec = codec

    def __call__(self, events: Sequence[Event]) -> None:
        store = self.features.data
        for event in events:
            message = event.message
            raw = _header(message.headers)
            if raw is None or message.key is None:
                continue
            state = _decoded(self.codec, raw, message)
            user_id = _user(message.key)
            if state is None or _older(self.features, user_id, message, state):
                continue
            with current_message(message):
                store[user_id] = state


def _not_older(
    table: faust.Table[str, UserFeatureState], codec: StructCodec, events: list[Event]
) -> list[Event]:
    """The changelog events to apply: all but the states older than the stored one. A value
    that does not decode is left to Faust, which reports it as it always did."""
    out = []
    for event in events:
        message = event.message
        if message.value is not None and message.key is not None:
            state = _decoded(codec, message.value, message)
            if state is not None and _older(table, _user(message.key), message, state):
                continue
        out.append(event)
    return out


def _older(
    features: faust.Table[str, UserFeatureState],
    user_id: str,
    message: Message,
    state: UserFeatureState,
) -> bool:
    """Does the store hold a newer state of the user (one that counts more events)?"""
    with current_message(message):
        stored = features.data.get(user_id)
    return stored is not None and stored.n_events > state.n_events


def _decoded(codec: StructCodec, raw: bytes, message: Message) -> UserFeatureState | None:
    try:
        return cast(UserFeatureState, codec.loads(raw))
    except Exception as exc:  # a record some other client wrote: skip it, keep restoring
        logger.warning(
            "skipped a user state that does not decode (%s partition %d offset %d): %s",
            message.topic, message.partition, message.offset, exc,
        )  # fmt: skip
        return None


def _header(headers: object) -> bytes | None:
    """The state header's value (the last one, as Kafka's lastHeader)."""
    found = [value for name, value in header_pairs(headers) if name == STATE_HEADER]
    return found[-1] if found else None


def _user(key: bytes | str) -> str:
    return key if isinstance(key, str) else key.decode("utf-8", "replace")
