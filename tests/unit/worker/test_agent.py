"""The recommend agent overlaps scoring a batch with delivering the one before, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from prometheus_client import CollectorRegistry

from app.metrics import AppMetrics
from app.pipeline import BatchResult
from app.settings import Settings
from app.worker.agent import RecommendAgent
from app.worker.health_state import WorkerHealth


class GatedSink:
    """A required sink whose writes wait until the test opens the gate of their batch."""

    name, required = "outputs", True

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, result: BatchResult) -> int:
        batch = result.outputs[0][0].decode()
        self.started.append(batch)
        await self.gates.setdefault(batch, asyncio.Event()).wait()
        return len(result.outputs)

    def open(self, batch: str) -> None:
        self.gates.setdefault(batch, asyncio.Event()).set()


class NamedCore:
    """Scores a batch of record names into one output keyed by the batch's first name."""

    def __init__(self) -> None:
        self.scored: list[str] = []

    async def process(self, records: Sequence[Any], store: Any, arms: Any) -> BatchResult:
        self.scored.append(records[0])
        return BatchResult(outputs=[(records[0].encode(), b"", [])])


class Rollout:
    main = None

    def arms(self) -> None:
        return None


class Source:
    """Takes nothing (the tests hand batches in); notes what is acked and released."""

    def __init__(self, acked: list[str], released: list[str]) -> None:
        self.acked, self.released = acked, released

    async def take(self, max_events: int, within_s: float) -> list[Any]:
        raise AssertionError("the tests hand the batches in")

    def ack(self, batch: Sequence[Any]) -> None:
        self.acked.extend(batch)

    def release(self, batch: Sequence[Any]) -> None:
        self.released.extend(batch)


def agent(sink: GatedSink, core: NamedCore, acked: list[str], released: list[str]) -> Any:
    metrics = AppMetrics.create(CollectorRegistry())
    return RecommendAgent(
        Settings(), cast(Any, core), cast(Any, None), [sink], cast(Any, Rollout()), metrics,
        cast(Any, None), cast(Any, None), Source(acked, released), cast(Any, None),
        WorkerHealth(metrics),
    )  # fmt: skip


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_the_next_batch_is_scored_while_one_is_delivered_and_delivered_after_it() -> None:
    sink, core, acked, released = GatedSink(), NamedCore(), [], []
    a = agent(sink, core, acked, released)

    await a.process_batch(["b1"])  # scored; its delivery runs on its own
    await until(lambda: sink.started == ["b1"])
    second = asyncio.ensure_future(a.process_batch(["b2"]))
    await until(lambda: core.scored == ["b1", "b2"])
    assert not second.done() and acked == []  # b2 is scored, b1 still being delivered
    assert a.stalled_for() > 0

    sink.open("b2")  # b2's delivery may not overtake b1's
    for _ in range(50):
        await asyncio.sleep(0)
    assert sink.started == ["b1"] and acked == []

    sink.open("b1")
    await second
    await until(lambda: acked == ["b1", "b2"])
    assert sink.started == ["b1", "b2"] and released == []
    assert a.stalled_for() == 0


async def test_a_stop_abandons_the_batch_delivered_and_the_one_scored_neither_acked() -> None:
    sink, core, acked, released = GatedSink(), NamedCore(), [], []
    a = agent(sink, core, acked, released)
    await a.process_batch(["b1"])
    await until(lambda: sink.started == ["b1"])

    a.request_stop(abandon_after_s=0.01)
    finished = await a._finish_or_abandon(a.process_batch(["b2"]), ["b2"])

    assert finished is False
    assert acked == [] and sorted(released) == ["b1", "b2"]


async def test_a_stop_while_waiting_for_records_abandons_the_delivery_in_flight() -> None:
    sink, core, acked, released = GatedSink(), NamedCore(), [], []
    a = agent(sink, core, acked, released)
    await a.process_batch(["b1"])
    await until(lambda: sink.started == ["b1"])

    a.request_stop(abandon_after_s=0.01)  # nothing is being scored: the agent waits for records
    for _ in range(100):
        if released:
            break
        await asyncio.sleep(0.01)

    assert released == ["b1"] and acked == []
    assert a.stalled_for() == 0
