"""A table's key count: RocksDB's estimate per partition, less Faust's offset key if it is there."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from app.worker.faust_compat import estimated_keys

OFFSET_KEY = b"__faust\x00offset__"


class Db:
    def __init__(self, keys: int, offset: bool) -> None:
        self.keys, self.offset = keys, offset

    def property_int_value(self, name: str) -> int:
        assert name == "rocksdb.estimate-num-keys"
        return self.keys + self.offset

    def get(self, key: bytes) -> bytes | None:
        return b"41" if key == OFFSET_KEY and self.offset else None


def test_the_offset_key_is_left_out_only_where_faust_recorded_one() -> None:
    # The features table's databases hold none when the states ride on the updates.
    dbs = [Db(3, offset=True), Db(5, offset=False), Db(0, offset=False)]
    store = SimpleNamespace(offset_key=OFFSET_KEY, _dbs_for_actives=lambda: iter(dbs))
    assert estimated_keys(cast(Any, SimpleNamespace(data=store))) == 8


def test_the_memory_store_is_counted() -> None:
    assert estimated_keys(cast(Any, SimpleNamespace(data={"a": 1, "b": 2}))) == 2
