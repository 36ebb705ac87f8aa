"""The consumer changes, on stand-in objects (the integration tests run them inside real
workers, under rebalances and kill -9): fetched records are not lost, and ``resume`` (the
inline record hand-off) finishes a coroutine stepped once by hand as a task would have."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from app.worker.faust_compat.consumer import TunedConsumer, TunedConsumerThread, resume

P0, P1, CHANGELOG = TP("in", 0), TP("in", 1), TP("app-features-changelog", 0)


def bare_thread(**attributes: Any) -> Any:
    """A consumer thread that was never started: only the attributes a test gives it."""
    thread = TunedConsumerThread.__new__(TunedConsumerThread)
    vars(thread).update(attributes)
    return thread


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


async def test_a_fetch_reads_a_copy_of_the_active_set_and_never_asks_for_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[set[TP]] = []

    async def fetch(self: Any, consumer: Any, partitions: set[TP], **kwargs: Any) -> dict:
        asked.append(partitions)
        partitions_seen_later.clear()  # Faust empties its live set while the fetch waits
        return {}

    monkeypatch.setattr(driver.AIOKafkaConsumerThread, "_fetch_records", fetch)
    thread = bare_thread()
    partitions_seen_later = {P0, P1}
    assert await thread._fetch_records(None, partitions_seen_later) == {}
    assert asked == [{P0, P1}]  # the copy kept its partitions
    assert await thread._fetch_records(None, set()) == {}
    assert len(asked) == 1  # an empty set is no fetch at all (aiokafka would read "all")


async def test_stream_partitions_without_a_committed_offset_rewind_to_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def seek_to_committed(self: Any) -> dict[TP, int | None]:
        return {P0: None, P1: 7, CHANGELOG: None}

    rewound: list[TP] = []

    async def seek_to_beginning(*tps: TP) -> None:
        rewound.extend(tps)

    monkeypatch.setattr(driver.AIOKafkaConsumerThread, "seek_to_committed", seek_to_committed)
    thread = bare_thread(
        app=SimpleNamespace(conf=SimpleNamespace(consumer_auto_offset_reset="earliest")),
        consumer=SimpleNamespace(_is_changelog_tp=lambda tp: tp.topic.endswith("-changelog")),
        seek_to_beginning=seek_to_beginning,
    )
    committed = await thread.seek_to_committed()
    assert committed == {P0: None, P1: 7, CHANGELOG: None}
    assert rewound == [P0]
    thread.app.conf.consumer_auto_offset_reset = "latest"
    await thread.seek_to_committed()
    assert rewound == [P0]  # "latest" means start at the end: nothing to rewind


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
