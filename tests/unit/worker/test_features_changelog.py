"""The features table's changelog records go out as batches, as Faust would write them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from aiokafka.structs import RecordMetadata, TopicPartition
from faust.types import TP
from prometheus_client import CollectorRegistry

from app.features.state import UserFeatureState
from app.metrics import AppMetrics
from app.pipeline import BatchResult
from app.pipeline.result import OutRecord
from app.pipeline.store import StateWrite
from app.worker.codecs import StructCodec
from app.worker.features_changelog import FeaturesChangelog
from tests.support.pipeline import record_maker

TOPIC = "streamrec-features-changelog"


class Sender:
    """A BatchSender's surface: what was sent where; one acknowledged batch per partition."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Sequence[OutRecord], Sequence[int] | None]] = []

    async def send_many(
        self, topic: str, records: Sequence[OutRecord], partitions_of: Sequence[int] | None = None
    ) -> list[asyncio.Future[object]]:
        self.sent.append((topic, records, partitions_of))
        futures = []
        for partition in sorted(set(partitions_of or [])):
            done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            tp = TopicPartition(topic, partition)
            done.set_result(RecordMetadata(topic, partition, tp, 100 + partition, -1, 0, 0))
            futures.append(done)
        return futures

    async def send_acked(
        self, topic: str, records: Sequence[OutRecord], partitions_of: Sequence[int] | None = None
    ) -> list[object]:
        return list(await asyncio.gather(*await self.send_many(topic, records, partitions_of)))


class Store:
    def __init__(self) -> None:
        self.persisted: dict[TP, int] = {}

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


class Table:
    changelog_topic_name = TOPIC

    def __init__(self) -> None:
        self.data = Store()


def test_each_state_write_is_one_record_on_its_records_partition() -> None:
    make = record_maker()
    a, b = make("a", partition=3), make("b", partition=5)
    states = [UserFeatureState(recent=("1",), n_events=1), UserFeatureState(recent=("2", "3"))]
    result = BatchResult(states=[StateWrite("a", a, states[0]), StateWrite("b", b, states[1])])
    sender, table, codec = Sender(), Table(), StructCodec(UserFeatureState)
    sink = FeaturesChangelog(
        cast(Any, table), codec, cast(Any, sender), AppMetrics.create(CollectorRegistry())
    )
    assert asyncio.run(sink.write(result)) == 2
    ((topic, records, partitions),) = sender.sent
    assert topic == TOPIC and partitions == [3, 5]
    # The raw key and the codec's value: what Faust's restore and standbys decode.
    assert [(key, codec.loads(value or b"")) for key, value, _ in records] == [
        (b"a", states[0]), (b"b", states[1]),
    ]  # fmt: skip
    assert table.data.persisted == {TP(TOPIC, 3): 103, TP(TOPIC, 5): 105}


def test_a_batch_without_state_writes_sends_nothing() -> None:
    sender = Sender()
    sink = FeaturesChangelog(
        cast(Any, Table()), StructCodec(UserFeatureState), cast(Any, sender),
        AppMetrics.create(CollectorRegistry()),
    )  # fmt: skip
    assert asyncio.run(sink.write(BatchResult())) == 0
    assert sender.sent == []
