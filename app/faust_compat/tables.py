"""Faust tables keyed by the raw UTF-8 user id, like the input topic."""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.types.codecs import CodecArg

__all__ = ["raw_key_table", "tables_recovered"]


def raw_key_table(
    app: faust.App,
    name: str,
    partitions: int,
    value_serializer: CodecArg,
    help: str,
    store_options: dict[str, Any] | None = None,
) -> faust.Table[str, Any]:
    """A registered table whose changelog, store and router all use the raw key bytes.

    Faust derives a table's serializers from its key/value *types* (json for ``str``), which
    would key the changelog, the store and the view router by ``b'"42"'`` while producers
    key by ``b"42"``: views would route to the wrong worker. ``app.Table`` registers the
    table (creating its changelog topic with those serializers) at once, so the table is
    built here, given its serializers, and only then registered. ``store_options``: the
    store's (``faust.stores.rocksdb.RocksDBOptions`` fields for RocksDB).
    """
    table: faust.Table[str, Any] = faust.Table(
        app,
        name=name,
        key_type=str,
        partitions=partitions,
        help=help,
        beacon=app.tables.beacon,
        options=store_options,
    )
    table.key_serializer = "raw"
    table.value_serializer = value_serializer
    app.tables.add(table)
    return table


def tables_recovered(app: faust.App) -> bool:
    """Has the table recovery (changelog replay) of the current assignment finished?"""
    return bool(cast(Any, app.tables).recovery.completed.is_set())
