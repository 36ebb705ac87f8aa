"""The default batch policy: batches as the source gives them, acked when the next is asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from app.worker.batching import take_batches


class Source:
    """Gives the batches it holds (an empty one: nothing came within the wait), then ends."""

    def __init__(self, *batches: list[int]) -> None:
        self.batches = list(batches)
        self.asked: list[tuple[int, float]] = []
        self.acked: list[list[int]] = []

    async def take(self, max_events: int, within_s: float) -> list[Any]:
        self.asked.append((max_events, within_s))
        if not self.batches:
            raise LookupError("no more")
        return self.batches.pop(0)

    def ack(self, batch: Sequence[Any]) -> None:
        self.acked.append(list(batch))

    def release(self, batch: Sequence[Any]) -> None:
        raise AssertionError("a policy never releases")


@pytest.mark.parametrize("ack", [True, False])
async def test_batches_are_taken_at_the_policys_size_and_wait_and_acked_if_asked(
    ack: bool,
) -> None:
    source = Source([1, 2], [], [3])
    taken, acked_when_taken = [], []
    with pytest.raises(LookupError):
        async for batch in take_batches(2, 0.05, ack=ack)(source):
            taken.append(list(batch))
            acked_when_taken.append(list(source.acked))
    assert taken == [[1, 2], [3]]  # an empty take is no batch
    assert source.asked == [(2, 0.05)] * 4
    # A batch is acked once the next one is asked for: when the agent is done with it.
    assert acked_when_taken == [[], [[1, 2]] if ack else []]
    assert source.acked == ([[1, 2], [3]] if ack else [])
