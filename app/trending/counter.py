"""Trending items, the Faust adapter: count the by-item topic per step in a windowed table,
publish this worker's partitions' top items per hopping window, read every worker's into the
board.

The recommend agent sends each batch's events (minus replays) to the by-item topic keyed by
item, so an item's events meet in one partition, as Faust's ``group_by`` would (done there in
bulk: a ``group_by`` stream would put every event through Faust's per-event machinery again).
Its records reach the agent in bulk (``faust_compat.bulk``, as the input's do) and are counted
per batch into a tumbling table of TRENDING_STEP_S (RocksDB +
changelog): one update per (item, step) of the batch. Hopping windows are sums of steps
(``windows.window_tops``), made from an in-memory copy of the held partitions' counts, which
is read back from the table after every rebalance.

The table's own expiry is not used: Faust expires windows by wall-clock time, which would
drop every window of a replay of past events; steps are dropped here once no kept window
needs them, in event time behind the partition's newest step.
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
from faust.types import Message
from faust.types.windows import WindowRange_from_start

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.metrics import AppMetrics
from app.settings import Settings
from app.trending.board import TrendingBoard, TrendingReport
from app.trending.windows import TrendingConfig, Watermarks, window_tops
from app.worker.batching import BatchPolicy, BatchSource, subscribe
from app.worker.faust_compat import current_message, registered_table, tables_recovered

__all__ = ["TrendingCounter", "counts_table"]

logger = logging.getLogger(__name__)


class _Slot(msgspec.Struct, frozen=True):
    """A table access's partition and event time (what Faust reads of the current event)."""

    topic: str
    partition: int
    timestamp: float = 0.0


def counts_table(app: faust.App, settings: Settings) -> Any:
    """The windowed table of item counts per step (keys: (item, (start, end)), JSON)."""
    table = registered_table(
        app, "trending", settings.partitions, "json", "json",
        "Events per item per event-time step (TRENDING_STEP_S).", settings.store_options,
        default=int, key_type=None,
    )  # fmt: skip
    return table.tumbling(settings.trending_step_s)


class TrendingCounter:
    """Agent body (counting), the publishing timer and the reader of every worker's reports."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        table: Any,
        board: TrendingBoard,
        metrics: AppMetrics,
        source: BatchSource,
        batches: BatchPolicy,
    ) -> None:
        self.app = app
        self.source = source
        self.batches = batches
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
        # The held partitions' (item, step) -> count, as in the table; None: read it again.
        self._counts: dict[int, dict[tuple[str, float], int]] | None = None

        async def forget_counts(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            self._counts = None  # partitions moved: the table is what holds their counts

        app.on_rebalance_complete.connect(forget_counts)

    async def run(self, stream: faust.Stream[bytes]) -> None:
        """Agent body: count the by-item records in batches until the worker stops (a batch
        is acked when the next one is asked for: once its counts are in the table)."""
        try:
            subscribe(stream)
            async for messages in self.batches(self.source):
                self.count(messages)
        finally:
            await self.stop()

    def count(self, messages: Sequence[Message]) -> None:
        """Add a batch of by-item records (item -> event times) to the windows."""
        steps: dict[tuple[int, str, float], int] = defaultdict(int)
        late = counted = 0
        for message in messages:
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
        mirror = self._counts or {}
        for (partition, item, step), n in steps.items():
            with current_message(_Slot(self.topic, partition, step)):
                self.table[item].apply(operator.add, n)
            if (counts := mirror.get(partition)) is not None:
                counts[(item, step)] = counts.get((item, step), 0) + n
        self.metrics.trending_events.inc(counted)
        self.metrics.trending_late.inc(late)

    def _held(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives()
                if tp.topic == self.topic}  # fmt: skip

    def report(self) -> TrendingReport | None:
        """This worker's partitions' top items per window (None while recovering), dropping
        steps past the retention on the way."""
        if not tables_recovered(self.app) or self.app.rebalancing:
            return None
        if self._counts is None:
            self._counts = self._read_counts()
        for partition, counts in self._counts.items():
            self._expire(partition, counts)
        tops = {p: window_tops(c, self.config) for p, c in self._counts.items()}
        return TrendingReport(self.worker, round(time.time(), 3), tops)

    def _read_counts(self) -> dict[int, dict[tuple[str, float], int]]:
        """The held partitions' counts, from the table (once per rebalance)."""
        counts: dict[int, dict[tuple[str, float], int]] = {p: {} for p in self._held()}
        n = self.settings.partitions
        for (item, window), count in self.table.table.data.items():
            partition = self.partitioner.partition(item.encode(), n)
            if partition in counts:
                counts[partition][(item, float(window[0]))] = int(count)
        return counts

    def _expire(self, partition: int, counts: dict[tuple[str, float], int]) -> None:
        """Delete the partition's steps no kept window needs, from the table and the copy."""
        if not counts:
            return
        oldest = self.config.oldest_retained(max(start for _, start in counts))
        old = [key for key in counts if key[1] < oldest]
        if not old:
            return
        table, size = self.table.table, self.config.step_s
        with current_message(_Slot(self.topic, partition)):
            for item, start in old:
                # The key as Faust's tumbling window makes it (the same float arithmetic).
                del table[(item, WindowRange_from_start(start, size))]
                del counts[(item, start)]

    async def publish(self) -> None:
        """Send this worker's report to the trending topic (every worker merges them)."""
        report = self.report()
        if report is None:
            return
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                **Brokers.from_settings(self.settings).client_kwargs(), acks="all"
            )
            await self._producer.start()
        value = msgspec.json.encode(report)
        self.board.take(value)  # this worker's own figures at once
        await self._producer.send_and_wait(
            self.settings.trending_topic, value, key=self.worker.encode()
        )

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
