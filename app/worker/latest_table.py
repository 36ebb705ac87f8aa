"""The ``latest`` Faust table as a sink: what ``GET /recommendations/{user}/`` answers."""

from __future__ import annotations

import faust

from app.pipeline.result import BatchResult
from app.worker.faust_compat import current_message

__all__ = ["LatestTableSink"]


class LatestTableSink:
    """Each user's newest update of the batch, in the user's partition of the table.

    Required: the table's changelog records go out with Faust's producer, which Faust
    flushes before it commits the batch's offsets.
    """

    name = "latest"
    required = True

    def __init__(self, table: faust.Table[str, bytes]) -> None:
        self.table = table

    async def start(self) -> None:
        """Nothing to start: the table is Faust's."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def write(self, result: BatchResult) -> int:
        for update in result.latest:
            with current_message(update.record):
                self.table[update.user_id] = update.value
        return len(result.latest)
