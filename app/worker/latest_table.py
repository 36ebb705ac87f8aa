"""The ``latest`` Faust table, kept from the recommendations the worker sends.

What ``GET /recommendations/{user}/`` answers. The table's changelog is the recommendations
topic itself (``app.worker.tables``): an update goes out once, and a restore or a standby
replays it from there. So the table is written in its store only, never through Faust's
changelog, and only once the broker has the updates: the store never holds an update the
topic lacks, and the offsets the broker gave are the store's persisted offsets (a restart
replays the topic from there, not from its start).
"""

from __future__ import annotations

from collections.abc import Sequence

import faust
from aiokafka.structs import RecordMetadata
from faust.types import TP

from app.pipeline.result import BatchResult
from app.worker.faust_compat import current_message

__all__ = ["LatestTable"]


class LatestTable:
    """Each user's newest update of a batch, in the user's partition of the table."""

    def __init__(self, table: faust.Table[str, bytes]) -> None:
        self.table = table

    def keep(self, result: BatchResult, sent: Sequence[RecordMetadata | None]) -> None:
        """After ``result.outputs`` reached the broker (``sent``: one per record batch)."""
        store = self.table.data
        for update in result.latest:
            # The store picks the partition's database by the current event (faust#300).
            with current_message(update.record):
                store[update.user_id] = update.value
        last: dict[TP, int] = {}
        for meta in sent:
            if meta is not None:  # None: a producer without acks (not streamrec's)
                tp = TP(meta.topic, meta.partition)
                last[tp] = max(meta.offset, last.get(tp, -1))
        # The first offset of each partition's last batch: a restore replays at most that
        # batch again, and a record read twice leaves the same newest value.
        for tp, offset in last.items():
            store.set_persisted_offset(tp, offset)
