"""Delivery: a required sink is retried until it passes, a best-effort one is tried once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.metrics import AppMetrics
from app.pipeline import BatchResult
from app.sinks import deliver


class FlakySink:
    def __init__(self, name: str, required: bool, failures: int) -> None:
        self.name, self.required, self.failures = name, required, failures
        self.tries = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, result: BatchResult) -> int:
        self.tries += 1
        if self.tries <= self.failures:
            raise ConnectionError(f"{self.name} is away")
        return len(result.outputs)


def metrics() -> tuple[AppMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return AppMetrics.create(registry), registry


async def test_required_sinks_are_retried_until_they_pass_best_effort_ones_are_not() -> None:
    m, registry = metrics()
    required = FlakySink("topic", required=True, failures=2)
    best_effort = FlakySink("store", required=False, failures=5)
    result = BatchResult(outputs=[(b"k", b"v", [])] * 3)
    await deliver([required, best_effort], result, m)

    assert (required.tries, best_effort.tries) == (3, 1)

    def sample(name: str, sink: str) -> float | None:
        return registry.get_sample_value(name, {"sink": sink})

    assert sample("streamrec_sink_records_total", "topic") == 3
    assert sample("streamrec_sink_errors_total", "topic") == 2
    assert sample("streamrec_sink_errors_total", "store") == 1
    assert sample("streamrec_sink_records_total", "store") is None
    # Time per batch and sink with records, its retries included; none for a sink that failed.
    assert sample("streamrec_sink_seconds_count", "topic") == 1
    assert (sample("streamrec_sink_seconds_sum", "topic") or 0) >= 0.4  # two backoffs waited
    assert sample("streamrec_sink_seconds_count", "store") is None
