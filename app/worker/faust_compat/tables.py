"""Faust tables with the serializers streamrec gives them (raw UTF-8 user ids as keys, like
the input topic), registered only once they have them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import faust
from faust.types.codecs import CodecArg

__all__ = ["check_source_partitions", "raw_key_table", "registered_table", "tables_recovered"]


def raw_key_table(
    app: faust.App,
    name: str,
    partitions: int,
    value_serializer: CodecArg,
    help: str,
    store_options: dict[str, Any] | None = None,
    changelog: str | None = None,
    table_type: type[faust.Table[Any, Any]] = faust.Table,
) -> faust.Table[str, Any]:
    """A registered table whose changelog, store and router all use the raw key bytes.

    Faust derives a table's serializers from its key/value *types* (json for ``str``), which
    would key the changelog, the store and the view router by ``b'"42"'`` while producers
    key by ``b"42"``: views would route to the wrong worker. ``app.Table`` registers the
    table (creating its changelog topic with those serializers) at once, so the table is
    built here, given its serializers, and only then registered. ``store_options``: the
    store's (``faust.stores.rocksdb.RocksDBOptions`` fields for RocksDB). ``changelog``: a
    topic the table restores from instead of its own ``<app id>-<name>-changelog``, which
    the caller writes itself (the table then sends nothing: see ``app.worker.latest_table``).
    ``table_type``: a ``faust.Table`` subclass (one that restores in its own way).
    """
    return registered_table(
        app, name, partitions, "raw", value_serializer, help, store_options,
        changelog=changelog, table_type=table_type,
    )  # fmt: skip


def registered_table(
    app: faust.App,
    name: str,
    partitions: int,
    key_serializer: CodecArg,
    value_serializer: CodecArg,
    help: str,
    store_options: dict[str, Any] | None = None,
    default: Callable[[], Any] | None = None,
    key_type: type | None = str,
    changelog: str | None = None,
    table_type: type[faust.Table[Any, Any]] = faust.Table,
) -> faust.Table[Any, Any]:
    """A table built with these serializers, then registered (see ``raw_key_table``)."""
    topic = None
    if changelog is not None:
        # As Faust makes its own changelog topics (compacted, created when missing), but
        # under the given name: Faust skips creating a topic that exists.
        topic = app.topic(
            changelog, key_type=key_type, key_serializer=key_serializer,
            value_serializer=value_serializer, partitions=partitions, compacting=True,
            deleting=False, acks=False, internal=True, maxsize=131_072, allow_empty=True,
        )  # fmt: skip
    table: faust.Table[Any, Any] = table_type(
        app,
        name=name,
        key_type=key_type,
        partitions=partitions,
        help=help,
        beacon=app.tables.beacon,
        options=store_options,
        default=default,
        changelog_topic=topic,
    )
    table.key_serializer = key_serializer
    table.value_serializer = value_serializer
    app.tables.add(table)
    return table


def tables_recovered(app: faust.App) -> bool:
    """Has the table recovery (changelog replay) of the current assignment finished?"""
    return bool(cast(Any, app.tables).recovery.completed.is_set())


def check_source_partitions(table: faust.Table[Any, Any], topic: str) -> None:
    """Faust's check before a table write sends its changelog record: ``topic``, where the
    written records come from, has as many partitions as the changelog (PartitionsMismatch
    otherwise; checked once per topic). Streamrec writes some tables' stores and sends their
    changelogs itself, so it asks for the check."""
    cast(Any, table)._verify_source_topic_partitions(topic)
