"""Changes 1, 2, 4 and 5 to Faust's Kafka consumer (of eight; the package lists them all):
the thread that owns the aiokafka consumer.

1. The fetch wait is a setting: Faust hard-codes ``fetch_max_wait_ms=1500``. A real Kafka
   broker answers a fetch as soon as data arrives, whatever the wait; the embedded broker
   (Tansu) holds it for a good part of the wait even when records are there (measured: p50
   357 ms at 1500 ms, 2 ms at 5 ms), which lands on every event's latency.
2. Table recovery learns where each changelog ends from a fetch, not from ListOffsets alone.
   Faust compares the offset a RocksDB store has persisted with ListOffsets(latest) and
   refuses to start (ConsistencyError) if the store is ahead, and reads a changelog only up
   to that offset. Kafka answers with the high watermark; the embedded broker answers with
   the last batch's base offset + 1, so a worker restarted on its own data dir crashed, and
   one recovering from the changelog stopped short. A fetch's high watermark is right on
   both, so it is asked for whenever a partition is not empty (once per recovery).
4. A fetch asks for the partitions active when it runs, never "all". Faust hands its live
   set of active partitions to a fetch that waits for the consumer thread; a recovery can
   empty that set meanwhile, and aiokafka reads an empty set as *every* assigned partition.
   The records it then returned (paused stream partitions, standby changelogs) were dropped
   by Faust as not active, with the consumer's position already past them. Measured: a
   worker restarted after kill -9 under CPU load left whole partitions unprocessed (1 run
   in 8), and a promoted standby missed early changelog records (stale state).
5. A stream partition without a committed offset is rewound to its beginning whenever Faust
   seeks to the committed offsets. aiokafka's seek_to_committed leaves such a partition where
   it is (it seeks only to offsets > 0), so records dropped before the group's first commit
   were never fetched again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

__all__ = ["TunedConsumerThread", "fetched_highwaters"]

_EARLIEST = "earliest"

logger = logging.getLogger(__name__)


async def fetched_highwaters(
    listed: Mapping[TP, int], within_s: float = 10.0, **consumer_kwargs: Any
) -> dict[TP, int]:
    """High watermarks from fetch responses, starting from ListOffsets' ``listed`` answers.

    Reads one record at ``listed - 1`` of each non-empty partition: the fetch response
    carries the partition's high watermark. Falls back to ``listed`` (and says so) if a
    partition does not answer in time.
    """
    result = dict(listed)
    pending = {tp for tp, offset in listed.items() if offset > 0}
    if not pending:
        return result
    probe = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **consumer_kwargs)
    await probe.start()
    try:
        probe.assign(list(pending))
        for tp in pending:
            probe.seek(tp, listed[tp] - 1)
        deadline = time.monotonic() + within_s
        while pending and time.monotonic() < deadline:
            await probe.getmany(*pending, timeout_ms=200, max_records=1)
            for tp in list(pending):
                highwater = probe.highwater(tp)
                if highwater is not None:
                    result[tp] = max(listed[tp], highwater)
                    pending.discard(tp)
    finally:
        await probe.stop()
    if pending:
        logger.warning("no high watermark fetched for %s; using ListOffsets", sorted(pending))
    return result


class TunedConsumerThread(driver.AIOKafkaConsumerThread):  # type: ignore[misc]
    """Changes 1, 2, 4 and 5: the thread that owns the aiokafka consumer."""

    @property
    def fetch_max_wait_ms(self) -> int:
        """The app's fetch wait (change 1), which its transport (``TunedTransport``) holds."""
        return int(cast(Any, self.transport).fetch_max_wait_ms)

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,  # noqa: ASYNC109 (Faust's signature)
        max_records: int | None = None,
    ) -> Any:
        snapshot = set(active_partitions)  # a copy: Faust may change its set meanwhile
        if not snapshot:
            return {}  # aiokafka would take an empty set for "all partitions"
        return await super()._fetch_records(
            consumer, snapshot, timeout=timeout, max_records=max_records
        )

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed: Mapping[TP, int] = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset != _EARLIEST:
            return committed
        rewind = [
            tp
            for tp, offset in committed.items()
            if not offset and not self.consumer._is_changelog_tp(tp)
        ]
        if rewind:
            await self.seek_to_beginning(*rewind)
        return committed

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        listed = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return listed  # last stable offsets: already exact
        conf, transport = self.app.conf, cast(driver.Transport, self.transport)
        return await fetched_highwaters(
            listed,
            bootstrap_servers=driver.server_list(transport.url, transport.default_port),
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **driver.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )
