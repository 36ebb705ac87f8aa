"""``resume``: a coroutine stepped once by hand finishes under a task exactly as it would have."""

from __future__ import annotations

import asyncio

import pytest

from app.consumer_tuning import resume


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
