"""The latest table is written in its store only, after the broker has the updates."""

from __future__ import annotations

from typing import Any, cast

from aiokafka.structs import RecordMetadata, TopicPartition
from faust.streams import current_event
from faust.types import TP

from app.pipeline import BatchResult
from app.pipeline.result import LatestUpdate
from app.worker.latest_table import LatestTable
from tests.support.pipeline import record_maker


class Store:
    """A Faust store's writing surface: what went to which partition's database."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], bytes] = {}
        self.persisted: dict[TP, int] = {}

    def __setitem__(self, key: str, value: bytes) -> None:
        self.rows[(current_event().message.partition, key)] = value

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


class Table:
    def __init__(self) -> None:
        self.data = Store()

    def __setitem__(self, key: str, value: bytes) -> None:
        raise AssertionError("a table write would send a changelog record: the store only")


def sent(partition: int, offset: int) -> RecordMetadata:
    tp = TopicPartition("recommendations", partition)
    return RecordMetadata("recommendations", partition, tp, offset, -1, 0, 0)


def test_each_users_newest_update_goes_to_its_partitions_store_and_nothing_is_sent() -> None:
    make = record_maker()
    a, b = make("a", partition=3), make("b", partition=5)
    result = BatchResult()
    result.latest = [
        LatestUpdate("a", 3, a.offset, b"A", a), LatestUpdate("b", 5, b.offset, b"B", b),
    ]  # fmt: skip
    table = Table()
    LatestTable(cast(Any, table)).keep(result, [])
    assert table.data.rows == {(3, "a"): b"A", (5, "b"): b"B"}


def test_the_last_batch_offset_of_each_partition_becomes_the_persisted_offset() -> None:
    table = Table()
    LatestTable(cast(Any, table)).keep(BatchResult(), [sent(3, 40), sent(5, 7), sent(3, 52), None])
    assert table.data.persisted == {TP("recommendations", 3): 52, TP("recommendations", 5): 7}
