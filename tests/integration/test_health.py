"""Readiness: 503 until a model is loaded and tables are recovered, 200 after, 503 while the
broker is unreachable or every batch fails; liveness apart."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.training.train import catalogue
from app.worker.health_state import FAILED_BATCHES_UNREADY
from devtools.broker import EmbeddedBroker
from devtools.net import free_port, http_get, scrape_metrics
from devtools.processes import WorkerProcess
from devtools.verify.check import make_traffic
from tests.support.deployment import Deployment
from tests.support.paths import MODELS
from tests.support.proxy import TcpProxy
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
    # A batch whose model call never returns.
    d = deployment_factory(STREAMREC_STALL_TIMEOUT_S="2")
    await d.create_topics()
    worker = d.start_worker(app_module="tests.support.faulty_app", STREAMREC_TEST_FAULT="stuck")
    assert http_get(worker.web_url + "/health/live")[0] == 200

    stuck = {"user_id": "7", "item_id": "stuck", "event": "view"}
    await d.produce([(b"7", msgspec.json.encode(stuck))])
    assert wait_for(lambda: http_get(worker.web_url + "/health/live")[0] == 503, 60)
    _, body = http_get(worker.web_url + "/health/live")
    assert msgspec.json.decode(body)["batch_running_s"] > 2
    assert worker.alive()
    # What an orchestrator does next (a stuck worker may not finish a graceful stop).
    worker.stop(signal.SIGKILL)


def ready_body(worker: WorkerProcess) -> tuple[int, dict[str, object]]:
    status, body = http_get(worker.web_url + "/health/ready")
    return status, (msgspec.json.decode(body) if body else {})


async def poll(predicate: Callable[[], bool], timeout: float) -> bool:
    """``wait_for`` on a thread: the proxy forwards on this test's event loop."""
    return await asyncio.to_thread(wait_for, predicate, timeout)


async def test_not_ready_while_the_broker_is_unreachable_and_ready_once_it_is_back(
    tmp_path: Path,
) -> None:
    # A broker of its own, reached through a proxy the test cuts (its data kept, as when a
    # real Kafka broker restarts or the network splits).
    listen_port = free_port()
    proxy = await TcpProxy(listen_port).start()
    broker = EmbeddedBroker(port=proxy.port, listen_port=listen_port, log=tmp_path / "b.log")
    d = Deployment(broker.start(), tmp_path, "down", {})
    try:
        await d.create_topics()
        worker = await asyncio.to_thread(d.start_worker)
        assert (await d.verify(make_traffic(5, 5, catalogue(), run="a"))).ok
        assert scrape_metrics(worker.web_url)["streamrec_broker_connected"] == 1

        log_before = len(worker.log.read_bytes())
        await proxy.cut()
        cut_at = time.monotonic()
        assert await poll(lambda: ready_body(worker)[0] == 503, 20), ready_body(worker)
        detected_s = time.monotonic() - cut_at
        _, body = ready_body(worker)
        assert body["broker_connected"] is False, body
        assert str(body["reason"]).startswith("broker unreachable for"), body
        assert scrape_metrics(worker.web_url)["streamrec_broker_connected"] == 0
        _, page = http_get(worker.web_url + "/")
        assert b'id="broker"><span class="bad">unreachable' in page
        # Held down for 20 s: still live (a restart would not bring the broker back).
        deadline = cut_at + 20
        while time.monotonic() < deadline:
            assert http_get(worker.web_url + "/health/live")[0] == 200
            assert ready_body(worker)[0] == 503
            await asyncio.sleep(1)
        outage_log = worker.log.read_bytes()[log_before:].decode(errors="replace")

        await proxy.start()
        back_at = time.monotonic()
        assert await poll(lambda: ready_body(worker)[0] == 200, 90), ready_body(worker)
        ready_again_s = time.monotonic() - back_at
        assert scrape_metrics(worker.web_url)["streamrec_broker_connected"] == 1
        report = await d.verify(make_traffic(5, 5, catalogue(), run="b"))
        assert report.ok, report.summary()

        connect_errors = outage_log.count("Unable connect to node")
        print(f"broker cut 20 s: not ready {detected_s:.1f} s after the cut, ready again "
              f"{ready_again_s:.1f} s after it was back; log lines during the outage: "
              f"{len(outage_log.splitlines())}, of them 'Unable connect to node': "
              f"{connect_errors}")  # fmt: skip
        # The first one in full, then one line per 10 s per kind, with a count.
        assert 1 <= connect_errors <= 8, outage_log[-3000:]
        assert len(outage_log.splitlines()) < 100 and "Logging error" not in outage_log
        assert "more like this in the last" in outage_log
        assert "broker unreachable" in outage_log
        assert worker.alive()
    finally:
        for w in d.workers:
            w.stop()
        broker.stop()
        await proxy.cut()


async def test_not_ready_while_every_batch_fails_and_ready_once_one_passes(
    deployment_factory: Callable[..., Deployment],
) -> None:
    # Every batch holding an item "poison" raises; with no retries each goes to the DLQ whole.
    d = deployment_factory(STREAMREC_TEST_FAULT="poison", STREAMREC_BATCH_RETRIES="0")
    await d.create_topics()
    worker = d.start_worker(app_module="tests.support.faulty_app")
    assert ready_body(worker)[0] == 200

    def dead_lettered() -> float:
        return scrape_metrics(worker.web_url).get(
            'streamrec_batch_failures_total{outcome="dead_lettered"}', 0.0
        )

    for n in range(FAILED_BATCHES_UNREADY):  # one batch each: the next is sent after
        poison = {"user_id": f"p{n}", "item_id": "poison", "event": "view"}
        await d.produce([(f"p{n}".encode(), msgspec.json.encode(poison))])
        assert await poll(lambda n=n: dead_lettered() == n + 1, 30), worker.tail()
        if n < FAILED_BATCHES_UNREADY - 1:
            assert ready_body(worker)[0] == 200  # a poison batch or two: still ready
    status, body = ready_body(worker)
    assert status == 503 and body["batches_failing"] is True, body
    assert "batches all failed" in str(body["reason"]), body
    assert http_get(worker.web_url + "/health/live")[0] == 200

    good = {"user_id": "g", "item_id": "50", "event": "view"}
    await d.produce([(b"g", msgspec.json.encode(good))])
    assert await poll(lambda: ready_body(worker)[0] == 200, 30), ready_body(worker)
    assert (await d.consume(d.output_topic, 1, timeout=30))[0].key == b"g"
