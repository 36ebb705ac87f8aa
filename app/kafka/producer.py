"""Produce a micro-batch's records with aiokafka's batch API: one await per partition.

Records are partitioned by the deployment's key partitioner (STREAMREC_KEY_PARTITIONER, murmur2
by default, as the Java client and aiokafka), so outputs land on the user's partition. The
caller awaits the returned futures before the batch's input offsets are acked: delivery before
commit, i.e. at-least-once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.pipeline.result import OutRecord

__all__ = ["BatchSender"]


class BatchSender:
    """A producer for streamrec's own output and dead-letter records."""

    def __init__(
        self,
        brokers: Brokers,
        partitioner: KeyPartitioner,
        *,
        max_request_bytes: int,
        compression_type: str | None = None,
    ) -> None:
        self.brokers = brokers
        self._max_request_bytes = max_request_bytes
        self._compression_type = compression_type
        self._partitioner = partitioner
        self._producer: AIOKafkaProducer | None = None

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("BatchSender.start() first")
        return self._producer

    async def start(self) -> None:
        # aiokafka binds a producer to the running loop, so it is made here, not at import.
        self._producer = AIOKafkaProducer(
            **self.brokers.client_kwargs(),
            acks="all",
            linger_ms=0,
            max_request_size=self._max_request_bytes,
            compression_type=self._compression_type,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send_many(
        self,
        topic: str,
        records: Sequence[OutRecord],
        timestamps_ms: Sequence[int | None] | None = None,
        partitions_of: Sequence[int] | None = None,
    ) -> list[asyncio.Future[object]]:
        """Queue ``records`` for ``topic`` (``timestamps_ms``: each record's, else now;
        ``partitions_of``: each record's partition, else the key partitioner's); one future
        per record batch sent."""
        if not records:
            return []
        partitions = sorted(await self.producer.partitions_for(topic))
        open_batches: dict[int, BatchBuilder] = {}
        futures = []
        stamps = timestamps_ms or [None] * len(records)
        chosen: Sequence[int | None] = partitions_of or [None] * len(records)
        if partitions_of and not set(partitions_of) <= set(partitions):
            raise ValueError(f"{topic} has {len(partitions)} partitions, not partition "
                             f"{max(partitions_of)}")  # fmt: skip
        for (key, value, headers), timestamp, given in zip(records, stamps, chosen, strict=True):
            partition = self._partitioner(key, partitions, partitions) if given is None else given
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = self.producer.create_batch()
            if batch.append(key=key, value=value, timestamp=timestamp, headers=headers) is None:
                # Full: send it and start the next one with this record.
                futures.append(await self.producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[partition] = self.producer.create_batch()
                if batch.append(key=key, value=value, timestamp=timestamp, headers=headers) is None:
                    raise ValueError(f"a record of {len(value or b'')} bytes fits no batch")
        for partition, batch in open_batches.items():
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        return futures

    async def send_acked(
        self,
        topic: str,
        records: Sequence[OutRecord],
        timestamps_ms: Sequence[int | None] | None = None,
        partitions_of: Sequence[int] | None = None,
    ) -> list[RecordMetadata | None]:
        """``send_many``, then wait for the broker: what it said of each record batch."""
        futures = await self.send_many(topic, records, timestamps_ms, partitions_of)
        return cast(list[RecordMetadata | None], await asyncio.gather(*futures))
