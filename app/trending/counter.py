"""Trending items, the Faust adapter: count the by-item topic in a hopping windowed table,
publish this worker's partitions' top items, read every worker's into the board.

The recommend agent sends each batch's events (minus replays) to the by-item topic keyed by
item, so an item's events meet in one partition, as Faust's ``group_by`` would (done there in
bulk: a ``group_by`` stream would put every event through Faust's per-event machinery again).
Here they are counted per batch: one table update per (item, step) of the batch, which
Faust's hopping table adds to each window holding that step.

The table's own expiry is not used: Faust expires windows by wall-clock time, which would
drop every window of a replay of past events; windows are dropped here once they are more
than TRENDING_RETENTION_S behind the partition's newest one, in event time.
"""

from __future__ import annotations

import logging
import operator
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import faust
import msgspec
from aiokafka import AIOKafkaProducer
from faust.types import EventT

from app.brokers import Brokers
from app.faust_compat import current_message, registered_table, tables_recovered
from app.metrics import AppMetrics
from app.partitioners import KeyPartitioner
from app.settings import Settings
from app.trending.board import TrendingBoard, TrendingReport
from app.trending.windows import TrendingConfig, Watermarks, partition_tops

__all__ = ["TrendingCounter", "counts_table"]

logger = logging.getLogger(__name__)


class _Slot(msgspec.Struct, frozen=True):
    """A table access's partition and event time (what Faust reads of the current event)."""

    topic: str
    partition: int
    timestamp: float = 0.0


def counts_table(app: faust.App, settings: Settings) -> Any:
    """The hopping windowed table of item counts (keys: (item, (start, end)), JSON)."""
    table = registered_table(
        app, "trending", settings.partitions, "json", "json",
        "Events per item per hopping event-time window.", settings.store_options,
        default=int, key_type=None,
    )  # fmt: skip
    return table.hopping(settings.trending_window_s, settings.trending_step_s)


class TrendingCounter:
    """Agent body (counting), the publishing timer and the reader of every worker's reports."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        table: Any,
        board: TrendingBoard,
        metrics: AppMetrics,
    ) -> None:
        self.app = app
        self.settings = settings
        self.table = table
        self.board = board
        self.metrics = metrics
        self.config = TrendingConfig.from_settings(settings)
        self.topic = settings.by_item_topic
        self.watermarks = Watermarks(self.config.grace_s)
        self.partitioner = KeyPartitioner(settings.key_partitioner)
        self.worker = f"{settings.web_host}:{settings.web_port}:{uuid.uuid4().hex[:8]}"
        self._stamps = msgspec.json.Decoder(list[float]).decode
        self._producer: AIOKafkaProducer | None = None

    async def run(self, stream: faust.Stream[bytes]) -> None:
        """Agent body: count the by-item records in batches until the worker stops."""
        s = self.settings
        try:
            async for events in stream.take_events(s.max_batch, s.max_wait_ms / 1000):
                self.count(events)
        finally:
            await self.stop()

    def count(self, events: Sequence[EventT[bytes]]) -> None:
        """Add a batch of by-item records (item -> event times) to the windows."""
        steps: dict[tuple[int, str, float], int] = defaultdict(int)
        late = counted = 0
        for event in events:
            message = event.message
            try:
                item = message.key.decode() if message.key else ""
                stamps = self._stamps(message.value or b"")
            except (UnicodeDecodeError, msgspec.DecodeError) as exc:
                # Only workers write this topic: a bad record is a bug or a foreign writer.
                logger.warning("%s %d/%d: skipped, not an item's event times: %s",
                               self.topic, message.partition, message.offset, exc)  # fmt: skip
                continue
            for ts in stamps:
                if self.watermarks.admit(message.partition, ts):
                    steps[(message.partition, item, self.config.bucket(ts))] += 1
                    counted += 1
                else:
                    late += 1
        for (partition, item, step), n in steps.items():
            with current_message(_Slot(self.topic, partition, step)):
                self.table[item].apply(operator.add, n)
        self.metrics.trending_events.inc(counted)
        self.metrics.trending_late.inc(late)

    def _held(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives()
                if tp.topic == self.topic}  # fmt: skip

    def report(self) -> TrendingReport | None:
        """This worker's partitions' top items per window (None while recovering), dropping
        windows past the retention on the way."""
        if not tables_recovered(self.app) or self.app.rebalancing:
            return None
        held = self._held()
        counts: dict[int, list[tuple[str, float, int]]] = {p: [] for p in held}
        keys: dict[tuple[str, float], Any] = {}
        n = self.settings.partitions
        for key, count in self.table.table.data.items():
            item, window = key
            partition = self.partitioner.partition(item.encode(), n)
            if partition in counts:
                start = float(window[0])
                counts[partition].append((item, start, int(count)))
                keys[(item, start)] = key
        self._expire(counts, keys)
        tops = {p: partition_tops(c, self.config) for p, c in counts.items()}
        return TrendingReport(self.worker, round(time.time(), 3), tops)

    def _expire(
        self, counts: dict[int, list[tuple[str, float, int]]], keys: dict[tuple[str, float], Any]
    ) -> None:
        table = self.table.table
        for partition, rows in counts.items():
            if not rows:
                continue
            newest = max(start for _, start, _ in rows)
            old = [r for r in rows if not self.config.retained(r[1], newest)]
            if not old:
                continue
            with current_message(_Slot(self.topic, partition)):
                for item, start, _ in old:
                    # The key exactly as stored (a JSON list read back from RocksDB): a
                    # rebuilt one could serialise differently (877000000 vs 877000000.0).
                    item_key, window = keys[(item, start)]
                    del table[(item_key, tuple(window))]
            rows[:] = [r for r in rows if self.config.retained(r[1], newest)]

    async def publish(self) -> None:
        """Send this worker's report to the trending topic (every worker merges them)."""
        report = self.report()
        if report is None:
            return
        if self._producer is None:
            self._producer = AIOKafkaProducer(**self.brokers.client_kwargs(), acks="all")
            await self._producer.start()
        value = msgspec.json.encode(report)
        self.board.take(value)  # this worker's own figures at once
        await self._producer.send_and_wait(
            self.settings.trending_topic, value, key=self.worker.encode()
        )

    @property
    def brokers(self) -> Brokers:
        return self.settings.brokers

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
