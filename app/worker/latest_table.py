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

from app.pipeline.result import BatchResult
from app.worker.changelog_offsets import persist_offsets
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
        persist_offsets(store, sent)
