"""The Kafka client's repeated errors, summarised: the first in full, then one line per
SUMMARY_EVERY_S with how many were left out.

aiokafka logs each failed reconnect, fetch and metadata request as an error, several times a
second per connection: measured, 3,556 "Unable connect to node" lines in the 40 s a broker
was down, which buried everything else. The first of each kind still shows at once (it is
what an operator reads first); the broker's state itself is in /health/ready and
``streamrec_broker_connected``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

__all__ = ["CLIENT_LOGGERS", "SUMMARY_EVERY_S", "RepeatSummary", "summarise_client_errors"]

SUMMARY_EVERY_S = 10.0

CLIENT_LOGGERS = (
    "aiokafka",
    "aiokafka.client",
    "aiokafka.conn",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
)
"""Where aiokafka logs its connection errors (a filter applies to its own logger only)."""


class RepeatSummary(logging.Filter):
    """Lets a warning or error of one kind (logger and message template) through at most once
    per ``every_s``, the line saying how many of its kind were left out since the last one.
    Thread-safe: Faust's consumer logs from its own thread."""

    def __init__(
        self, every_s: float = SUMMARY_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # kind -> (shown at, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, str(record.msg))
        with self._lock:
            now = self.clock()
            shown_at, left_out = self._last.get(kind, (None, 0))
            if shown_at is not None and now - shown_at < self.every_s:
                self._last[kind] = (shown_at, left_out + 1)
                return False
            self._last[kind] = (now, 0)
        if left_out and shown_at is not None:
            record.msg = (
                f"{record.getMessage()} ({left_out} more like this in the last "
                f"{now - shown_at:.0f} s, not shown)"
            )
            record.args = ()  # a tuple: mode's formatter wraps anything else in one
        return True


def summarise_client_errors(
    summary: RepeatSummary | None = None, loggers: Iterable[str] = CLIENT_LOGGERS
) -> RepeatSummary:
    """Put one ``RepeatSummary`` on each of the Kafka client's loggers (once per process)."""
    summary = summary or RepeatSummary()
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatSummary) for f in logger.filters):
            logger.addFilter(summary)
    return summary
