"""Driving the batch core with no broker: input records, a core on a fresh registry, arms."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from app.inference.cold_start import ColdStart, Trending
from app.metrics import AppMetrics
from app.pipeline import ArmRanker, BatchConfig, BatchCore, BatchResult, Ranker, StateStore
from app.pipeline.routing import KeyRouting
from app.pipeline.variants import Arms
from app.worker.batch_metrics import count_batch
from tests.support.fakes import FakeScorer

__all__ = [
    "ITEMS", "NOW", "CoreUnderTest", "Record", "arms", "decode_all", "record_maker",
]  # fmt: skip

ITEMS = [str(i) for i in range(1, 21)]
NOW = time.time()  # the decoder refuses timestamps far in the future of the real clock


@dataclass(frozen=True)
class Record:
    """An input record as a Faust message or an aiokafka record carries it."""

    key: bytes | None
    value: bytes | None
    topic: str = "interactions"
    partition: int = 0
    offset: int = 0
    timestamp: float = NOW - 0.01
    headers: tuple[tuple[str, bytes], ...] = ()


def record_maker() -> Callable[..., Record]:
    """``make(user, item, **fields)``: a valid interaction at the next offset of its partition;
    ``value=`` sends raw bytes instead, ``offset=`` replays a position, ``headers=`` adds
    record headers."""
    offsets: dict[int, itertools.count[int]] = {}

    def make(
        user: str = "u1",
        item: str = "1",
        *,
        value: bytes | None = None,
        partition: int = 0,
        offset: int | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
        **fields: Any,
    ) -> Record:
        counter = offsets.setdefault(partition, itertools.count())
        position = next(counter) if offset is None else offset
        if value is None:
            value = msgspec.json.encode({"user_id": user, "item_id": item, "event": "view",
                                         **fields})  # fmt: skip
        return Record(user.encode(), value, partition=partition, offset=position, headers=headers)

    return make


class CoreUnderTest:
    """A core at a fixed clock; ``process`` also counts the batch into a fresh registry, as
    the agent does; ``sleeps`` records the retry delays it asked for."""

    def __init__(
        self,
        config: BatchConfig,
        rank: Ranker,
        routing: KeyRouting | None = None,
        trends: Trending | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.metrics = AppMetrics.create(self.registry)
        self.sleeps: list[float] = []
        self.core = BatchCore(
            config,
            ArmRanker(rank, 3, cold_start=ColdStart(trends)),
            clock=lambda: NOW,
            sleep=self._sleep,
            routing=routing,
        )

    async def process(
        self, records: Sequence[Record], store: StateStore, arms: Arms
    ) -> BatchResult:
        result = await self.core.process(records, store, arms)
        count_batch(self.metrics, result)
        return result

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def arms(**kw: Any) -> Arms:
    """The fake model on main (``ITEMS``), other arms as given."""
    return Arms(main=FakeScorer(ITEMS), **kw)


def decode_all(records: Sequence[tuple[bytes | None, bytes | None, Any]]) -> list[Any]:
    """The JSON values of a batch's output records."""
    return [msgspec.json.decode(value) for _, value, _ in records if value is not None]
