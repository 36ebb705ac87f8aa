"""The consumer's changes, on stand-in objects (the integration tests run them inside real
workers, under rebalances and kill -9): fetched records are not lost, and ``resume`` (the
inline record hand-off) finishes a coroutine stepped once by hand as a task would have."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from app.worker.faust_compat.consumer import TunedConsumer, resume

P0, P1, CHANGELOG = TP("in", 0), TP("in", 1), TP("app-features-changelog", 0)


def records(*offsets: int) -> list[Any]:
    return [SimpleNamespace(offset=o) for o in offsets]


def test_records_not_handed_on_are_fetched_again_from_the_first_of_them() -> None:
    seeks: list[tuple[TP, int]] = []
    consumer = SimpleNamespace(
        assignment=lambda: {P0, P1},
        _thread=SimpleNamespace(seek=lambda tp, offset: seeks.append((tp, offset))),
    )
    fetched = {P0: records(10, 11, 12), P1: records(5, 6), CHANGELOG: records(40)}
    # P0: two of three handed on; P1: all; the changelog partition is no longer assigned.
    TunedConsumer._refetch_dropped(consumer, fetched, {P0: 2, P1: 2})
    assert seeks == [(P0, 12)]
    TunedConsumer._refetch_dropped(consumer, fetched, {})
    assert seeks[1:] == [(P0, 10), (P1, 5)]


async def _blocks_then_returns(gate: asyncio.Future[int], log: list[str]) -> int:
    log.append("start")
    value = await gate
    await asyncio.sleep(0)  # a bare yield (None) in the middle
    log.append("end")
    return value + 1


async def test_resume_delivers_results_and_return_value() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    coro = _blocks_then_returns(gate, log)
    blocked_on = coro.send(None)
    assert blocked_on is gate and log == ["start"]
    task = asyncio.ensure_future(resume(coro, blocked_on))
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_result(41)
    assert await task == 42
    assert log == ["start", "end"]


async def test_resume_delivers_exceptions_into_the_coroutine() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    coro = _blocks_then_returns(gate, [])
    task = asyncio.ensure_future(resume(coro, coro.send(None)))
    gate.set_exception(ValueError("broker said no"))
    with pytest.raises(ValueError, match="broker said no"):
        await task


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    cleaned: list[bool] = []

    async def waits() -> None:
        try:
            await gate
        finally:
            cleaned.append(True)

    coro = waits()
    task = asyncio.ensure_future(resume(coro, coro.send(None)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True] and gate.cancelled()
