"""Table access inside ``take_events`` batches, where Faust has no current event (faust#300)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import faust
from faust.types import EventT

__all__ = ["BatchEvents", "as_current_event"]


@contextmanager
def as_current_event(stream: faust.Stream[Any], event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` the current event while a table is read or written.

    Tables use the current event's partition: a write sends its changelog record there and a
    RocksDB read looks in that partition's database. Inside a ``take_events`` batch Faust
    has no current event (faust#300), so it is set per access. Afterwards this task's
    context is cleared, but the stream attribute gets its old value back: the stream's
    buffering task reads it for the event it is adding to the next batch.
    """
    previous = stream.current_event
    stream._set_current_event(event)
    try:
        yield
    finally:
        stream._set_current_event(None)
        stream.current_event = previous


class BatchEvents:
    """The events of the batch in progress, found again from their messages.

    The core sees a batch's messages only; a table read or write for one of them makes its
    event current (``as_current_event``) through this.
    """

    def __init__(self) -> None:
        self._stream: faust.Stream[Any] | None = None
        self._event_of: dict[int, EventT[Any]] = {}

    def begin(self, stream: faust.Stream[Any], events: Sequence[EventT[Any]]) -> None:
        """The batch ``events`` of ``stream`` is the one in progress."""
        self._stream = stream
        self._event_of = {id(event.message): event for event in events}

    @contextmanager
    def current(self, message: object) -> Iterator[None]:
        """Make the event of ``message`` (of the batch in progress) the current event."""
        assert self._stream is not None, "BatchEvents.begin() first"
        with as_current_event(self._stream, self._event_of[id(message)]):
            yield
