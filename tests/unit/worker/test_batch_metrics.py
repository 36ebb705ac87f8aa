"""The agent counts each batch from its result: names, labels and units as the core's were."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry

from app.metrics import AppMetrics
from app.pipeline import BatchResult, DeadLetterOut, ModelCalls, Quality
from app.worker.batch_metrics import count_batch


def counted(result: BatchResult) -> CollectorRegistry:
    registry = CollectorRegistry()
    count_batch(AppMetrics.create(registry), result)
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_every_count_and_timing_of_a_batch_lands_in_its_metric() -> None:
    result = BatchResult(
        outputs=[(b"a", b"{}", [])] * 3,
        dead_letters=[DeadLetterOut("invalid_json", (b"a", b"{", []))],
        updates_by_variant=Counter(main=2, canary=1, shadow=3),
        quality={"main": Quality(events=4, hits=1)},
        latencies=[0.01, 0.02, 0.03],
        stage_seconds={"queue": 0.2, "decode": 0.001, "state": 0.002, "inference": 0.01},
        coalesced=2,
        events=4,
        misrouted=Counter(crc32=2),
        degraded=True,
        retries=2,
        failed=True,
        model_calls=ModelCalls([("main", 0.004), ("shadow", 0.005)], Counter(canary=1)),
    )
    r = counted(result)
    assert value(r, "streamrec_events_in_total") == 4
    assert value(r, "streamrec_batch_size_sum") == 4 and value(r, "streamrec_batch_size_count") == 1
    assert value(r, "streamrec_degraded") == 1
    assert value(r, "streamrec_misrouted_records_total", partitioner="crc32") == 2
    assert value(r, "streamrec_recommendations_out_total") == 3
    assert value(r, "streamrec_coalesced_updates_total") == 2
    assert value(r, "streamrec_dead_letters_total", reason="invalid_json") == 1
    assert value(r, "streamrec_batch_failures_total", outcome="retried") == 2
    assert value(r, "streamrec_batch_failures_total", outcome="dead_lettered") == 1
    for variant, n in (("main", 2), ("canary", 1), ("shadow", 3)):
        assert value(r, "streamrec_variant_updates_total", variant=variant) == n
    assert value(r, "streamrec_variant_errors_total", variant="canary") == 1
    assert value(r, "streamrec_variant_inference_seconds_count", variant="shadow") == 1
    assert value(r, "streamrec_variant_inference_seconds_sum", variant="main") == 0.004
    assert value(r, "streamrec_prequential_events_total", variant="main") == 4
    assert value(r, "streamrec_prequential_hits_total", variant="main") == 1
    assert value(r, "streamrec_end_to_end_seconds_count") == 3
    assert value(r, "streamrec_stage_seconds_sum", stage="queue") == 0.2
    assert value(r, "streamrec_stage_seconds_count", stage="inference") == 1


def test_a_batch_whose_records_were_all_moved_counts_only_the_move() -> None:
    r = counted(BatchResult(misrouted=Counter(unknown=3)))
    assert value(r, "streamrec_misrouted_records_total", partitioner="unknown") == 3
    assert value(r, "streamrec_events_in_total") == 0
    assert value(r, "streamrec_batch_size_count") == 0
    assert value(r, "streamrec_stage_seconds_count", stage="queue") == 0
    assert value(r, "streamrec_batch_failures_total", outcome="retried") == 0
