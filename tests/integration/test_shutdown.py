"""SIGTERM on real workers: nothing lost, an exit within STREAMREC_SHUTDOWN_TIMEOUT_S (also
when the broker cannot be reached), and the other worker taking over at once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.training.train import catalogue
from app.worker.shutdown import FORCED_EXIT_CODE
from devtools.broker import EmbeddedBroker
from devtools.net import free_port, http_get, metric_value
from devtools.processes import WorkerProcess
from devtools.verify.check import make_traffic
from devtools.verify.run import send
from tests.support.deployment import PARTITIONS, Deployment
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_for

ITEMS = catalogue()


def owned(worker: WorkerProcess) -> set[int]:
    """The input partitions the worker owns (its /health/ready says), none if it is down."""
    status, body = http_get(worker.web_url + "/health/ready", timeout=2)
    return set(msgspec.json.decode(body)["partitions"]) if status in (200, 503) else set()


def batch_running_s(worker: WorkerProcess) -> float:
    _, body = http_get(worker.web_url + "/health/live", timeout=2)
    return float(msgspec.json.decode(body)["batch_running_s"]) if body else 0.0


def stop_timed(worker: WorkerProcess) -> tuple[int | None, float]:
    started = time.monotonic()
    code = worker.stop(signal.SIGTERM, timeout=120)
    return code, time.monotonic() - started


async def test_sigterm_mid_stream_loses_nothing_and_the_other_worker_takes_over(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    first, second = d.start_worker(), d.start_worker()
    both = await asyncio.to_thread(
        wait_for, lambda: len(owned(first) | owned(second)) == PARTITIONS, 30
    )
    assert both, first.tail() + second.tail()
    traffic = make_traffic(40, 100, ITEMS)
    sending = asyncio.create_task(send(d.brokers, d.input_topic, traffic, rate=400))
    assert await asyncio.to_thread(
        wait_for, lambda: metric_value(first.web_url, "streamrec_events_in_total") >= 300, 30
    )
    signalled = time.monotonic()
    code, exit_s = await asyncio.to_thread(stop_timed, first)
    taken_over = await asyncio.to_thread(
        wait_for, lambda: owned(second) == set(range(PARTITIONS)), 30, 0.1
    )
    takeover_s = time.monotonic() - signalled
    await sending
    # Restarted where it was (its RocksDB), as an orchestrator would.
    d.start_worker(data_dir=d.env(0, 0)["STREAMREC_DATA_DIR"])
    report = await d.verify(traffic, rate=-1)
    print(f"SIGTERM mid-stream: exit {code} after {exit_s:.1f} s; the other worker owned "
          f"all {PARTITIONS} partitions {takeover_s:.1f} s after the signal; "
          f"{report.summary()}")  # fmt: skip

    assert code == 0 and exit_s <= 20, first.tail(60)
    assert taken_over, second.tail(40)
    assert report.lost == [] and report.order_violations == 0, report.summary()
    assert report.unexpected == 0, report.summary()
    log = first.tail(400)
    assert "stop requested" in log and "LeaveGroup request succeeded" in log, log


async def test_sigterm_with_the_broker_unreachable_exits_within_the_bound(
    tmp_path: Path,
) -> None:
    # The worker reaches its broker through a proxy the test cuts while the worker is busy:
    # its deliveries fail and are retried, its commits and leaving the group cannot happen.
    listen_port = free_port()
    proxy = await TcpProxy(listen_port).start()
    broker = EmbeddedBroker(port=proxy.port, listen_port=listen_port, log=tmp_path / "b.log")
    d = Deployment(broker.start(), tmp_path, "stop", {"STREAMREC_SHUTDOWN_TIMEOUT_S": "6"})
    try:
        await d.create_topics()
        worker = await asyncio.to_thread(d.start_worker)
        traffic = make_traffic(100, 50, ITEMS)
        await send(d.brokers, d.input_topic, traffic, rate=0)
        assert await asyncio.to_thread(
            wait_for, lambda: metric_value(worker.web_url, "streamrec_events_in_total") > 0, 30
        )
        await proxy.cut()
        # A batch is stuck in delivery (the producer retries; nothing can reach the broker).
        retrying = await asyncio.to_thread(wait_for, lambda: batch_running_s(worker) >= 1, 60)
        code, exit_s = await asyncio.to_thread(stop_timed, worker)
        await proxy.start()
        restarted = await asyncio.to_thread(
            d.start_worker, data_dir=d.env(0, 0)["STREAMREC_DATA_DIR"]
        )
        report = await d.verify(traffic, rate=-1)
        print(f"SIGTERM, broker unreachable (deliveries retried: {retrying}): exit {code} "
              f"after {exit_s:.1f} s (SHUTDOWN_TIMEOUT_S=6); after a restart: "
              f"{report.summary()}")  # fmt: skip

        assert retrying, worker.tail(60)
        assert exit_s <= 6 + 3, worker.tail(60)  # the bound, plus the process' own exit
        assert code in (0, FORCED_EXIT_CODE), worker.tail(60)
        assert report.lost == [] and report.order_violations == 0, report.summary()
        assert restarted.alive()
    finally:
        for w in d.workers:
            w.stop()
        broker.stop()
        await proxy.cut()
