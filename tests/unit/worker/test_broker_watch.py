"""The broker probe without a broker: refused, and a peer that never answers."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from app.kafka.brokers import Brokers
from app.metrics import AppMetrics
from app.worker.broker_watch import BrokerWatch
from app.worker.health_state import WorkerHealth
from devtools.net import free_port


def watch(port: int, timeout_s: float) -> tuple[BrokerWatch, WorkerHealth, CollectorRegistry]:
    registry = CollectorRegistry()
    health = WorkerHealth(AppMetrics.create(registry))
    brokers = Brokers.plain([f"127.0.0.1:{port}"])
    return BrokerWatch(brokers, "interactions", health, timeout_s=timeout_s), health, registry


async def test_a_refused_connection_is_an_unreachable_broker() -> None:
    w, health, registry = watch(free_port(), timeout_s=5.0)
    try:
        assert await w.probe() is False
    finally:
        await w.close()
    assert not health.broker_connected and health.broker_problem() == "broker unreachable for 0 s"
    assert registry.get_sample_value("streamrec_broker_connected") == 0


async def test_a_broker_that_does_not_answer_in_time_is_unreachable() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # takes the connection, never answers

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    w, health, _ = watch(port, timeout_s=0.3)
    try:
        started = asyncio.get_running_loop().time()
        assert await w.probe() is False
        assert asyncio.get_running_loop().time() - started < 3.0  # the timeout, not the client's
        assert accepted and not health.broker_connected
    finally:
        await w.close()
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()
