"""Table access inside ``take_events`` batches, where Faust has no current event (faust#300)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.types import EventT

__all__ = ["as_current_event"]

logger = logging.getLogger(__name__)


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
