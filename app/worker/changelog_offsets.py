"""The offsets a table's own writes got on its changelog, kept as its store's persisted ones.

A Faust table records the offset of each changelog record it sends, so that a restart
replays its changelog from there, not from its start. The tables streamrec writes around
Faust's per-record send (their records go out in batches, with the batch's other records)
record them here, from what the broker acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.structs import RecordMetadata
from faust.types import TP, StoreT

__all__ = ["persist_offsets"]


def persist_offsets(store: StoreT[Any, Any], sent: Sequence[RecordMetadata | None]) -> None:
    """Each partition's newest acknowledged batch (``sent``: one per record batch) as the
    store's persisted offset.

    The batch's first offset: a restore replays at most that batch again, and a record read
    twice leaves the same newest value.
    """
    last: dict[TP, int] = {}
    for meta in sent:
        if meta is not None:  # None: a producer without acks (not streamrec's)
            tp = TP(meta.topic, meta.partition)
            last[tp] = max(meta.offset, last.get(tp, -1))
    for tp, offset in last.items():
        store.set_persisted_offset(tp, offset)
