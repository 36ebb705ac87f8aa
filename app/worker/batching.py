"""The batch policy: how an agent gathers micro-batches from the records delivered to it.

A topic's records reach its agent through a ``BatchSource`` (``faust_compat.BulkInput``:
the consumer's fetches, no Event, queue hop or ack per record), never through the agent's
Faust stream; a policy takes batches from the source and may ack them. Wrapping a policy
changes the timing without touching the agent (the tests inject faults so).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import faust
from faust.types import Message

__all__ = ["BatchPolicy", "BatchSource", "subscribe", "take_batches"]


class BatchSource(Protocol):
    """Where an agent's records come from: taken in batches, then acked or released."""

    async def take(self, max_events: int, within_s: float) -> list[Message]:
        """Up to ``max_events`` records, waiting at most ``within_s`` after the first (0:
        what has arrived, once there is any)."""
        ...

    def ack(self, batch: Sequence[Message]) -> None:
        """The batch is done: its offsets may be committed."""
        ...

    def release(self, batch: Sequence[Message]) -> None:
        """The batch will not be finished (the worker stops): not acked, not in progress."""
        ...


BatchPolicy = Callable[[BatchSource], AsyncIterator[Sequence[Message]]]
"""How an agent gathers micro-batches of its records. Acked either when the agent asks for
the next one (so it asks only once the batch is done) or by the agent itself."""


def take_batches(max_batch: int, max_wait_s: float, *, ack: bool = True) -> BatchPolicy:
    """Up to ``max_batch`` records, or what came within ``max_wait_s`` of the first.

    ``ack``: ack each batch when the next one is asked for; without it, the agent acks
    (``BatchSource.ack``) once the batch is delivered.
    """

    async def batches(source: BatchSource) -> AsyncIterator[Sequence[Message]]:
        while True:
            batch = await source.take(max_batch, max_wait_s)
            if batch:
                yield batch
                if ack:
                    source.ack(batch)

    return batches


def subscribe(stream: faust.Stream[Any]) -> None:
    """Subscribe the worker to the agent's topic, whose records then come through its
    ``BatchSource``: Faust subscribes when an agent's channel is first iterated."""
    aiter(stream.channel)
