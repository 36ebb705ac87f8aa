"""The batch pipeline: what a micro-batch holds, how long it waits, what input it accepts."""

from __future__ import annotations

from pydantic import Field

from app.settings.base import Scope

__all__ = ["PipelineSettings"]


class PipelineSettings(Scope):
    """Micro-batching, the updates it emits, retries, degradation and input limits."""

    top_k: int = Field(default=10, ge=1, le=1000)
    """How many items each recommendation update carries."""

    max_batch: int = Field(default=500, ge=1, le=100_000)
    """Most events scored in one micro-batch (one ``session.run``)."""

    max_wait_ms: float = Field(default=0.0, ge=0, le=60_000)
    """How long a micro-batch waits, from its first record, to fill before what it has is
    scored: it adds up to this much to an event's latency (none once MAX_BATCH are there).
    0: no wait, a batch is what has arrived when the agent is free (records that come while
    a batch is scored or delivered make the next one). A wait saves CPU at low load (fewer,
    larger batches) at the cost of latency (docs/performance)."""

    coalesce: bool = False
    """One update per user per micro-batch (for its latest event) instead of one per event.
    Off by default: the output contract is one update per event."""

    degrade_lag_s: float = Field(default=0.0, ge=0)
    """Lag-aware degradation, 0 = off: while the oldest event of a batch has waited longer
    than this (from its Kafka timestamp), each user gets one update per batch (for their
    newest event; every event still updates the state), the shadow arm and the prediction
    cache are skipped, and ``streamrec_degraded`` is 1; back to normal under half of it."""

    batch_retries: int = Field(default=2, ge=0, le=10)
    """Times a micro-batch whose processing raised is tried again (after 0.5 s, 1 s, ...)
    before its events go to the dead-letter topic as ``processing_error``."""

    max_message_bytes: int = Field(default=65_536, ge=256)
    """Input values larger than this go to the dead-letter topic unread."""

    max_future_skew_s: float = Field(default=86_400.0, ge=0)
    """An event timestamp further than this in the future is rejected as malformed."""
