"""Kafka settings: the broker URLs Faust accepts, split into what plain clients take; the
producers' compression. (The KAFKA_* security rules are tested with the Brokers they build:
tests/unit/kafka.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import pytest
from aiokafka import codec

from app.settings import load_settings
from app.settings.kafka import Compression


def test_broker_urls_faust_accepts_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_BROKER", "kafka://a:1;aiokafka://[::1]:2,kafka://c")
    settings = load_settings()
    assert settings.broker_addresses == [("a", 1), ("::1", 2), ("c", 9092)]
    assert settings.bootstrap_servers == ["a:1", "[::1]:2", "c"]


def test_addresses_after_the_first_url_may_omit_the_scheme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What Faust accepts, and what kafka://$(KAFKA_BOOTSTRAP_SERVERS) gives in Kubernetes.
    monkeypatch.setenv("STREAMREC_BROKER", "kafka://b1:9092,b2:9093")
    settings = load_settings()
    assert settings.bootstrap_servers == ["b1:9092", "b2:9093"]
    assert settings.broker_addresses == [("b1", 9092), ("b2", 9093)]


@pytest.mark.parametrize("value", ["b1:9092", "kafka://b1:9092,http://b2:9092", "kafka://b1:x"])
def test_a_list_must_start_with_a_broker_url(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STREAMREC_BROKER", value)
    with pytest.raises(Exception, match="is not a broker URL"):
        load_settings()


def test_outputs_are_uncompressed_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, problems_of: Callable[..., list[str]]
) -> None:
    # Consumers of the outputs must read what the worker writes: aiokafka without cramjam
    # cannot read zstd.
    assert load_settings().producer_compression is None
    for given, meant in (("none", None), (" LZ4 ", "lz4"), ("gzip", "gzip")):
        monkeypatch.setenv("STREAMREC_COMPRESSION", given)
        assert load_settings().producer_compression == meant
    (problem,) = problems_of(STREAMREC_COMPRESSION="brotli")
    assert problem.startswith("STREAMREC_COMPRESSION='brotli'") and "'zstd'" in problem


def test_every_compression_offered_is_installed() -> None:
    # aiokafka's zstd, lz4 and snappy need cramjam (a dependency): without it the worker's
    # producers would refuse to start.
    installed = {"gzip": codec.has_gzip(), "snappy": codec.has_snappy(),
                 "lz4": codec.has_lz4(), "zstd": codec.has_zstd()}  # fmt: skip
    assert [c for c in get_args(Compression) if c != "none" and not installed[c]] == []
