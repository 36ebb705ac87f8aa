"""Prometheus metrics, created on a registry the caller owns (tests pass a fresh one)."""

from __future__ import annotations

from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AppMetrics"]


# Around the latency targets (p99 <= 50 ms end to end): fine below 100 ms, coarse above.
_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


# Why an admin request (http) or control command (control) is refused: app.rollout.admin's reasons.
ADMIN_DENIALS = {
    "http": ("admin_disabled", "missing", "wrong"),
    "control": ("admin_disabled", "unsigned", "bad_signature", "stale"),
}


class AppMetrics(NamedTuple):
    """Every metric streamrec exports; names are ``<prefix>_...`` in base units."""

    events_in: Counter
    recommendations_out: Counter
    dead_letters: Counter
    batch_size: Histogram
    stage_seconds: Histogram
    end_to_end_seconds: Histogram
    model_info: Gauge
    model_loads: Counter
    prequential_events: Counter
    prequential_hits: Counter
    variant_updates: Counter
    variant_errors: Counter
    variant_inference_seconds: Histogram
    produce_errors: Counter
    batch_failures: Counter
    consumer_lag: Gauge
    lag_without_commit: Gauge
    broker_connected: Gauge
    table_keys: Gauge
    cache_requests: Counter
    cache_errors: Counter
    sink_records: Counter
    sink_errors: Counter
    sink_seconds: Histogram
    admin_denied: Counter
    misrouted: Counter
    degraded: Gauge
    coalesced_updates: Counter
    trending_events: Counter
    trending_late: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry, prefix: str = "streamrec") -> AppMetrics:
        """Build and register the metrics on ``registry``."""
        metrics = cls(**{k: v for scope in _SCOPES for k, v in scope(prefix, registry).items()})
        # Known label values start at 0, so a first failure is an increase() alerts can see.
        for counter, values in (
            (metrics.model_loads, ("success", "failure")),
            (metrics.batch_failures, ("retried", "dead_lettered")),
            (metrics.cache_requests, ("hit", "miss")),
            (metrics.cache_errors, ("get", "set")),
            (metrics.misrouted, ("murmur2", "crc32", "fnv1a", "unknown")),
        ):
            for value in values:
                counter.labels(value)
        for via, reasons in ADMIN_DENIALS.items():
            for reason in reasons:
                metrics.admin_denied.labels(via, reason)
        metrics.init_variant("main")
        return metrics

    def init_variant(self, variant: str) -> None:
        """Export a traffic arm's series at 0 from the start (rates and alerts see them)."""
        for metric in (
            self.prequential_events,
            self.prequential_hits,
            self.variant_updates,
            self.variant_errors,
            self.variant_inference_seconds,
        ):
            metric.labels(variant)


# Each scope's definitions (a name per AppMetrics field), in the order of the fields.
def _stream(prefix: str, registry: CollectorRegistry) -> dict[str, Any]:
    """The input, the batches and what they produce."""
    return {
        "events_in": Counter(
            f"{prefix}_events_in",
            "Input records read.",
            registry=registry,
        ),
        "recommendations_out": Counter(
            f"{prefix}_recommendations_out",
            "Recommendation updates produced.",
            registry=registry,
        ),
        "dead_letters": Counter(
            f"{prefix}_dead_letters",
            "Input records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        ),
        "batch_size": Histogram(
            f"{prefix}_batch_size",
            "Events per micro-batch.",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        ),
        "stage_seconds": Histogram(
            f"{prefix}_stage_seconds",
            "Time per micro-batch in each stage (queue: mean wait of its records before it).",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        "end_to_end_seconds": Histogram(
            f"{prefix}_end_to_end_seconds",
            "Input record timestamp to recommendation produced.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        "produce_errors": Counter(
            f"{prefix}_produce_errors",
            "Failed attempts to deliver a batch's outputs (retried until they pass).",
            registry=registry,
        ),
        "batch_failures": Counter(
            f"{prefix}_batch_failures",
            "Micro-batches whose processing raised, by what happened next.",
            ["outcome"],
            registry=registry,
        ),
        "misrouted": Counter(
            f"{prefix}_misrouted_records",
            "Input records that arrived on a partition their key does not belong to under "
            "KEY_PARTITIONER, moved to their own; by the producer partitioner that puts "
            "them where they arrived (murmur2, crc32, fnv1a; unknown: e.g. round-robin).",
            ["partitioner"],
            registry=registry,
        ),
        "degraded": Gauge(
            f"{prefix}_degraded",
            "1 while batches run degraded (DEGRADE_LAG_S: the oldest event waited too "
            "long): one update per user per batch, no shadow, no prediction cache.",
            registry=registry,
        ),
        "coalesced_updates": Counter(
            f"{prefix}_coalesced_updates",
            "Updates degradation left out: each user's earlier events of a batch, whose "
            "update the same user's newest event of the batch supersedes.",
            registry=registry,
        ),
    }


def _models(prefix: str, registry: CollectorRegistry) -> dict[str, Any]:
    """The served model versions and their traffic arms."""
    return {
        "model_info": Gauge(
            f"{prefix}_model_info",
            "The served model (1 for the version in service), by traffic arm (variant).",
            ["name", "version", "variant"],
            registry=registry,
        ),
        "model_loads": Counter(
            f"{prefix}_model_loads",
            "Model load attempts, by result.",
            ["result"],
            registry=registry,
        ),
        "prequential_events": Counter(
            f"{prefix}_prequential_events",
            "Events of users who had recommendations already (prequential HR@K denominator), "
            "by the traffic arm (variant) that made those recommendations.",
            ["variant"],
            registry=registry,
        ),
        "prequential_hits": Counter(
            f"{prefix}_prequential_hits",
            "Events whose item was in the user's latest recommendations before it, by the "
            "traffic arm (variant) that made them.",
            ["variant"],
            registry=registry,
        ),
        "variant_updates": Counter(
            f"{prefix}_variant_updates",
            "Recommendation updates by traffic arm: main, canary, shadow (on its own topic).",
            ["variant"],
            registry=registry,
        ),
        "variant_errors": Counter(
            f"{prefix}_variant_errors",
            "Model calls that failed, by traffic arm. A failing canary's users get the main "
            "model's answer; a failing shadow's batch has no shadow updates.",
            ["variant"],
            registry=registry,
        ),
        "variant_inference_seconds": Histogram(
            f"{prefix}_variant_inference_seconds",
            "Time of one model call (features to top-K) per micro-batch, by traffic arm.",
            ["variant"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
    }


def _progress(prefix: str, registry: CollectorRegistry) -> dict[str, Any]:
    """How far the worker is behind, whether its broker answers, and what its tables hold."""
    return {
        "consumer_lag": Gauge(
            f"{prefix}_consumer_lag",
            "Input records not yet committed, per partition this worker owns "
            "(fetch high watermark - committed offset).",
            ["partition"],
            registry=registry,
        ),
        "lag_without_commit": Gauge(
            f"{prefix}_lag_without_commit_seconds",
            "How long this worker has had consumer lag and committed nothing (0 while it "
            "keeps up); /health/live fails past STREAMREC_STALL_TIMEOUT_S.",
            registry=registry,
        ),
        "broker_connected": Gauge(
            f"{prefix}_broker_connected",
            "1 while the broker answers this worker's probe (a metadata request once a "
            "second), 0 while it does not; /health/ready fails while it is 0.",
            registry=registry,
        ),
        "table_keys": Gauge(
            f"{prefix}_table_keys",
            "Keys (users) in the table partitions this worker serves. On RocksDB its estimate, "
            "which counts updates not yet compacted: high while users are being updated.",
            ["table"],
            registry=registry,
        ),
    }


def _delivery(prefix: str, registry: CollectorRegistry) -> dict[str, Any]:
    """The prediction cache and the sinks."""
    return {
        "cache_requests": Counter(
            f"{prefix}_cache_requests",
            "Prediction cache lookups by result (hit, miss).",
            ["result"],
            registry=registry,
        ),
        "cache_errors": Counter(
            f"{prefix}_cache_errors",
            "Prediction cache calls that failed or timed out, by operation (get, set).",
            ["op"],
            registry=registry,
        ),
        "sink_records": Counter(
            f"{prefix}_sink_records",
            "Records delivered, by sink (recommendations, shadow, dlq, latest, redis).",
            ["sink"],
            registry=registry,
        ),
        "sink_errors": Counter(
            f"{prefix}_sink_errors",
            "Failed deliveries by sink; a required sink retries, a best-effort one moves on.",
            ["sink"],
            registry=registry,
        ),
        "sink_seconds": Histogram(
            f"{prefix}_sink_seconds",
            "Time a sink took to deliver its part of a micro-batch (retries included), per "
            "sink with records: the produce stage waits for the slowest.",
            ["sink"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
    }


def _admin(prefix: str, registry: CollectorRegistry) -> dict[str, Any]:
    """Refused admin requests and control commands."""
    return {
        "admin_denied": Counter(
            f"{prefix}_admin_denied",
            "Refused admin requests (via http) and ignored control commands (via control), "
            "by reason (admin_disabled, missing, wrong, unsigned, bad_signature, stale).",
            ["via", "reason"],
            registry=registry,
        ),
    }


def _trending(prefix: str, registry: CollectorRegistry) -> dict[str, Any]:
    """The trending counts."""
    return {
        "trending_events": Counter(
            f"{prefix}_trending_events",
            "Events counted in the trending windows (this worker's by-item partitions).",
            registry=registry,
        ),
        "trending_late": Counter(
            f"{prefix}_trending_late",
            "Events not counted in the trending windows: more than TRENDING_GRACE_S "
            "behind the newest event of their by-item partition.",
            registry=registry,
        ),
    }


_SCOPES = (_stream, _models, _progress, _delivery, _admin, _trending)
