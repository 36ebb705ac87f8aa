"""A batch's counts and timings, from its ``BatchResult``, into the worker's metrics.

The core touches no metrics; the agent counts each batch here, once per batch (per event
only where a metric observes each event: its end-to-end latency).
"""

from __future__ import annotations

from app.metrics import AppMetrics
from app.pipeline.result import BatchResult

__all__ = ["count_batch"]


def count_batch(m: AppMetrics, result: BatchResult) -> None:
    """Add one processed batch to ``m``."""
    for producer, count in result.misrouted.items():
        m.misrouted.labels(producer).inc(count)
    if result.events:
        m.events_in.inc(result.events)
        m.batch_size.observe(result.events)
        m.degraded.set(result.degraded)
    for variant, count in result.model_calls.errors.items():
        m.variant_errors.labels(variant).inc(count)
    for variant, seconds in result.model_calls.seconds:
        m.variant_inference_seconds.labels(variant).observe(seconds)
    if result.retries:
        m.batch_failures.labels("retried").inc(result.retries)
    if result.failed:
        m.batch_failures.labels("dead_lettered").inc()
    for stage, seconds in result.stage_seconds.items():
        m.stage_seconds.labels(stage).observe(seconds)
    for letter in result.dead_letters:
        m.dead_letters.labels(letter.reason).inc()
    m.recommendations_out.inc(len(result.outputs))
    m.coalesced_updates.inc(result.coalesced)
    for variant, count in result.updates_by_variant.items():
        m.variant_updates.labels(variant).inc(count)
    for variant, quality in result.quality.items():
        m.prequential_events.labels(variant).inc(quality.events)
        m.prequential_hits.labels(variant).inc(quality.hits)
    observe = m.end_to_end_seconds.observe
    for seconds in result.latencies:
        observe(seconds)
