"""The table store: which backend keeps the worker's state, where, and RocksDB's memory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from app.settings.base import Scope, check_scheme

__all__ = ["STORE_SCHEMES", "StateChangelog", "StoreSettings"]

STORE_SCHEMES = ("rocksdb", "memory")

StateChangelog = Literal["updates", "topic"]


class StoreSettings(Scope):
    """The table store, its data directory and RocksDB's memory per table and partition."""

    store: str = "rocksdb://"
    """Table store: ``rocksdb://`` (durable, default) or ``memory://``."""

    data_dir: Path = Path("var/data")
    """Where the worker keeps its table state (RocksDB files)."""

    state_changelog: StateChangelog = "updates"
    """Where each user's feature state is backed up for restores and standbys. ``updates``:
    in a header (``streamrec-state``) of the user's newest update of each batch, on the
    output topic: one record per user and batch, not two. ``topic``: in
    ``<APP_ID>-features-changelog``, for an output topic read by consumers that must not see
    the users' recent items. Either way a restore reads both, and keeps each user's newest."""

    rocksdb_write_buffer_mb: int = Field(default=16, ge=1, le=1024)
    """RocksDB memtable size, per table and partition (two of them at most). Faust's 64 MB
    (three) holds up to 192 MB for each of a worker's partitions of each table, standbys
    included, before anything is flushed: with 8 partitions that is 3 GiB."""

    rocksdb_block_cache_mb: int = Field(default=64, ge=1, le=65_536)
    """RocksDB read cache, per table and partition (Faust's default: 2 GiB each)."""

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        return check_scheme(value, STORE_SCHEMES)

    @property
    def store_options(self) -> dict[str, int]:
        """A table store's options (a new dict: Faust's store consumes it)."""
        mb = 1 << 20
        return {
            "write_buffer_size": self.rocksdb_write_buffer_mb * mb,
            "max_write_buffer_number": 2,
            "block_cache_size": self.rocksdb_block_cache_mb * mb,
        }
