"""The producers' partitioners, checked against their reference hashes and clients."""

from __future__ import annotations

import zlib

import pytest
from aiokafka.partitioner import DefaultPartitioner

from app.kafka.partitioners import PARTITIONERS, KeyPartitioner, guess

KEYS = [str(n).encode() for n in range(500)] + [b"user-42", "ü-ß".encode(), b"x" * 300]


def test_murmur2_is_aiokafkas_default() -> None:
    aiokafka = DefaultPartitioner()
    for n in (1, 4, 8, 12):
        for key in KEYS:
            assert PARTITIONERS["murmur2"](key, n) == aiokafka(key, list(range(n)), [])


def test_crc32_is_librdkafkas_consistent_partitioner() -> None:
    # librdkafka: rd_crc32(key) % partition_cnt (standard CRC-32, as zlib); confluent-kafka's
    # default placement of 300 keys on 8 partitions matched it exactly on the embedded broker.
    assert all(PARTITIONERS["crc32"](k, 8) == zlib.crc32(k) % 8 for k in KEYS)


@pytest.mark.parametrize(("key", "fnv"), [(b"", 0x811C9DC5), (b"a", 0xE40C292C),
                                          (b"foobar", 0xBF9CF968)])  # fmt: skip
def test_fnv1a_is_saramas_hash_partitioner(key: bytes, fnv: int) -> None:
    # sarama: int32(fnv32a) % n, then negated when negative (Go's remainder keeps the sign)
    signed = fnv - (1 << 32) if fnv >= 1 << 31 else fnv
    for n in (3, 8, 10):
        go_remainder = -(abs(signed) % n) if signed < 0 else signed % n
        assert PARTITIONERS["fnv1a"](key, n) == abs(go_remainder)


def test_the_partitioner_serves_aiokafka_and_faust_and_spreads_keyless_records() -> None:
    crc = KeyPartitioner("crc32")
    assert crc(b"user-42", [0, 1, 2, 3], [0, 1, 2, 3]) == zlib.crc32(b"user-42") % 4
    assert {crc(None, [0, 1, 2, 3], [2, 3]) for _ in range(200)} == {2, 3}


def test_guess_names_the_partitioner_that_put_a_key_where_it_is() -> None:
    n = 8
    key = next(k for k in KEYS if len({f(k, n) for f in PARTITIONERS.values()}) == 3)
    for name, hashed in PARTITIONERS.items():
        assert guess(key, hashed(key, n), n) == name
    other = next(p for p in range(n) if p not in {f(key, n) for f in PARTITIONERS.values()})
    assert guess(key, other, n) == "unknown"
