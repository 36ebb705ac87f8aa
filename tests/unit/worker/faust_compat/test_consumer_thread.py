"""The consumer thread's changes, on a thread that was never started: a fetch never asks for
"all partitions", and partitions without a committed offset are read from their start."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from app.worker.faust_compat.consumer_thread import TunedConsumerThread

P0, P1, CHANGELOG = TP("in", 0), TP("in", 1), TP("app-features-changelog", 0)


def bare_thread(**attributes: Any) -> Any:
    """A consumer thread that was never started: only the attributes a test gives it."""
    thread = TunedConsumerThread.__new__(TunedConsumerThread)
    vars(thread).update(attributes)
    return thread


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
