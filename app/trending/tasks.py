"""The trending side of a worker: the agent counting the by-item topic, the timer publishing
this worker's top items, and the task reading every worker's reports into the board."""

from __future__ import annotations

import logging

import faust

from app.kafka.brokers import Brokers
from app.kafka.follow import follow_topic
from app.kafka.topics import ensure_topic_or_say
from app.metrics import AppMetrics
from app.settings import Settings
from app.trending.board import TrendingBoard
from app.trending.counter import TrendingCounter, counts_table
from app.worker.batching import take_batches
from app.worker.faust_compat import BulkInput

__all__ = ["add_trending"]

logger = logging.getLogger(__name__)

HOUR_MS = 3600 * 1000


def add_trending(
    app: faust.App,
    settings: Settings,
    brokers: Brokers,
    board: TrendingBoard,
    metrics: AppMetrics,
) -> None:
    """Count, publish and merge trends on ``app`` (TRENDING on)."""
    by_item_topic = app.topic(
        settings.by_item_topic, key_type=bytes, value_type=bytes, internal=True,
        partitions=settings.partitions,
    )  # fmt: skip
    # Its records come in bulk too: through Faust's per-record stream they cost more than the
    # counting, and its full stream buffer stalled the fetch loop the input shares.
    bulk = BulkInput(app, settings.by_item_topic, max(4 * settings.max_batch, 4096))
    batches = take_batches(settings.max_batch, settings.max_wait_ms / 1000)
    counter = TrendingCounter(
        app, settings, counts_table(app, settings), board, metrics, bulk, batches
    )
    app.agent(by_item_topic, name="trending")(counter.run)  # type: ignore[arg-type]

    async def publish_trending() -> None:
        try:
            await counter.publish()
        except Exception as exc:  # a broker hiccup: the next one publishes again
            logger.warning("trending: cannot publish: %s", exc)

    async def read_trending() -> None:
        await ensure_topic_or_say(brokers, settings.trending_topic, HOUR_MS)
        await follow_topic(brokers, settings.trending_topic, board.take)

    app.timer(settings.trending_publish_s, name="streamrec.trending")(publish_trending)
    app.task(read_trending)
