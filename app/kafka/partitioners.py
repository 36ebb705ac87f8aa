"""Key partitioners of the Kafka clients producers use, as pure functions of (key, partitions).

A user's events, state, latest update and views must live on one partition, and which one is
decided by whoever produces the events. Clients disagree: the Java client and aiokafka hash
the key with murmur2, librdkafka's clients (confluent-kafka, node-rdkafka, ...) with CRC32
by default ("consistent_random"), Go's sarama with FNV-1a. streamrec routes views with the
one STREAMREC_KEY_PARTITIONER names, produces with it, and moves records that arrive
elsewhere (``app.pipeline.routing``); to say where they came from it tries them all.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2 as _murmur2_hash

from app.settings import PartitionerName

__all__ = ["PARTITIONERS", "KeyPartitioner", "guess"]

Hash = Callable[[bytes, int], int]


def _murmur2(key: bytes, n: int) -> int:
    """The Java client's and aiokafka's default (``murmur2_random`` in librdkafka)."""
    hashed: int = _murmur2_hash(key)
    return (hashed & 0x7FFFFFFF) % n


def _crc32(key: bytes, n: int) -> int:
    """librdkafka's default for keyed records (``consistent_random``, ``consistent``)."""
    return zlib.crc32(key) % n


def _fnv1a(key: bytes, n: int) -> int:
    """sarama's HashPartitioner: FNV-1a 32, read as int32, Go's remainder, made positive."""
    h = 0x811C9DC5
    for byte in key:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    signed = h - (1 << 32) if h & 0x80000000 else h
    return abs(signed) % n


PARTITIONERS: dict[PartitionerName, Hash] = {
    "murmur2": _murmur2,
    "crc32": _crc32,
    "fnv1a": _fnv1a,
}


class KeyPartitioner:
    """The deployment's partitioner: ``partition(key, n)``, and aiokafka's / Faust's
    partitioner interface ``(key, all_partitions, available)`` for their producers."""

    def __init__(self, name: PartitionerName, cache_size: int = 1 << 16) -> None:
        self.name = name
        # Users repeat: a small cache keeps the hash (pure Python) off most events.
        self.partition: Callable[[bytes, int], int] = lru_cache(maxsize=cache_size)(
            PARTITIONERS[name]
        )

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:  # as every client does with a keyless record: any partition
            return random.choice(available or all_partitions)
        return all_partitions[self.partition(key, len(all_partitions))]

    def __repr__(self) -> str:
        return f"KeyPartitioner({self.name!r})"


def guess(key: bytes, partition: int, n: int) -> str:
    """Which known partitioner puts ``key`` on ``partition`` of ``n`` ("unknown": none, as
    with round-robin producers or a custom partitioner)."""
    for name, hashed in PARTITIONERS.items():
        if hashed(key, n) == partition:
            return name
    return "unknown"
