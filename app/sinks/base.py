"""The sink protocol and the one delivery loop every batch result goes through.

A *required* sink is delivered before the batch is acked: it is retried until it passes (a
stuck sink shows in ``sink_errors_total``, the log and, after STALL_TIMEOUT_S, a failing
/health/live), because acking without it would lose its records. A *best-effort* sink gets
one try per batch; a failure is counted and logged, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from app.metrics import AppMetrics
from app.pipeline.result import BatchResult

__all__ = ["Sink", "deliver"]

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0


class Sink(Protocol):
    """Where a part of each batch result goes."""

    @property
    def name(self) -> str:
        """Stable label for metrics and logs."""
        ...

    @property
    def required(self) -> bool:
        """Must be delivered before the batch is acked (else best-effort)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, result: BatchResult) -> int:
        """Deliver this sink's part of ``result``; the number of records written."""
        ...


async def deliver(sinks: Sequence[Sink], result: BatchResult, metrics: AppMetrics) -> None:
    """Every sink's part of ``result``, concurrently; returns once the required ones passed.

    Records a required sink delivered before a failed try may be sent again (at-least-once).
    """
    await asyncio.gather(*(_deliver_one(sink, result, metrics) for sink in sinks))


async def _deliver_one(sink: Sink, result: BatchResult, metrics: AppMetrics) -> None:
    backoff = 0.2
    started = time.perf_counter()
    while True:
        try:
            written = await sink.write(result)
        except Exception:
            metrics.sink_errors.labels(sink.name).inc()
            if not sink.required:
                logger.exception("best-effort sink %s failed; this batch skips it", sink.name)
                return
            logger.exception("cannot deliver to %s; retrying in %.1fs", sink.name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
            continue
        if written:
            metrics.sink_records.labels(sink.name).inc(written)
            metrics.sink_seconds.labels(sink.name).observe(time.perf_counter() - started)
        return
