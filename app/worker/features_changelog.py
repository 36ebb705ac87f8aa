"""The features table's changelog records, sent with each batch's other records
(STREAMREC_STATE_CHANGELOG=topic; by default the states ride on the updates instead:
``app.worker.user_states``).

Faust sends a table's changelog record per write, each through its producer buffer: with one
user per event that was the worker's largest cost after the model (13% of its samples in a
profile of a one-user-per-event drain). Here a batch's state writes go out as record batches,
one per partition, like the updates, to the same changelog topic, with the same keys and
values Faust would send, so Faust's restore and standbys read them as its own.
"""

from __future__ import annotations

import faust

from app.features.state import UserFeatureState
from app.kafka.producer import BatchSender
from app.metrics import AppMetrics
from app.pipeline.result import BatchResult, OutRecord
from app.worker.changelog_offsets import persist_offsets
from app.worker.codecs import StructCodec

__all__ = ["FeaturesChangelog"]


class FeaturesChangelog:
    """A required sink: the batch's state writes, on the partition of the record each is for.

    ``sender``: a producer of its own (the changelogs' compression), started here.
    """

    name = "features-changelog"
    required = True

    def __init__(
        self,
        table: faust.Table[str, UserFeatureState],
        codec: StructCodec,
        sender: BatchSender,
        metrics: AppMetrics,
    ) -> None:
        self.table = table
        self.codec = codec
        self.sender = sender
        self.metrics = metrics

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()

    async def write(self, result: BatchResult) -> int:
        writes = result.states
        if not writes:
            return 0
        dumps = self.codec.dumps
        records: list[OutRecord] = [
            (w.user_id.encode(), dumps(w.state), []) for w in writes
        ]  # fmt: skip
        partitions = [w.record.partition for w in writes]
        topic = self.table.changelog_topic_name
        try:
            sent = await self.sender.send_acked(topic, records, partitions_of=partitions)
        except Exception:
            self.metrics.produce_errors.inc()
            raise
        persist_offsets(self.table.data, sent)
        return len(records)
