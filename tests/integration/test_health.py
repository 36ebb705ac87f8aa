"""Readiness: 503 until a model is loaded and tables are recovered, 200 after; liveness apart."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from devtools.net import http_get
from tests.support.deployment import Deployment
from tests.support.paths import MODELS
from tests.support.waiting import wait_for


async def test_not_ready_without_a_model_then_ready_once_one_appears(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    model_dir = tmp_path / "registry"
    model_dir.mkdir()
    d = deployment_factory(STREAMREC_MODEL_DIR=str(model_dir), STREAMREC_MODEL_RETRY_S="0.5")
    await d.create_topics()
    worker = d.start_worker(wait=False)
    assert wait_for(lambda: http_get(worker.web_url + "/health/live")[0] == 200, 60)

    # Events sent now wait in Kafka: nothing is consumed while no model can score them.
    user = b"42"
    event = {"user_id": "42", "item_id": "50", "event": "click", "event_id": "early"}
    await d.produce([(user, msgspec.json.encode(event))])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status, body = http_get(worker.web_url + "/health/ready")
        assert status == 503, body
        assert msgspec.json.decode(body)["model_loaded"] is False
        time.sleep(0.3)
    assert http_get(worker.web_url + "/models/")[0] == 503
    assert worker.alive()

    # An operator drops a model version in: the worker loads it, becomes ready, catches up.
    shutil.copytree(MODELS / "itemsvd" / "1", model_dir / "itemsvd" / "1")
    assert wait_for(lambda: http_get(worker.web_url + "/health/ready")[0] == 200, 30)
    (output,) = await d.consume(d.output_topic, 1, timeout=30)
    assert msgspec.json.decode(output.value)["event_id"] == "early"
    _, metrics = http_get(worker.web_url + "/metrics")
    assert 'streamrec_model_loads_total{result="failure"}' in metrics.decode()


async def test_liveness_fails_while_a_batch_is_stuck(
    deployment_factory: Callable[..., Deployment],
) -> None:
    # Outputs addressed to a topic name Kafka refuses: delivery is retried and never passes.
    d = deployment_factory(STREAMREC_OUTPUT_TOPIC="no such topic!", STREAMREC_STALL_TIMEOUT_S="2")
    await d.create_topics()
    worker = d.start_worker()
    assert http_get(worker.web_url + "/health/live")[0] == 200

    event = {"user_id": "7", "item_id": "50", "event": "view"}
    await d.produce([(b"7", msgspec.json.encode(event))])
    assert wait_for(lambda: http_get(worker.web_url + "/health/live")[0] == 503, 60)
    _, body = http_get(worker.web_url + "/health/live")
    assert msgspec.json.decode(body)["batch_running_s"] > 2
    assert worker.alive()
    # What an orchestrator does next (a stuck worker may not finish a graceful stop).
    worker.stop(signal.SIGKILL)
