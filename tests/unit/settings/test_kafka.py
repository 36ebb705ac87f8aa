"""Kafka settings: the broker URLs Faust accepts, split into what plain clients take.
(The KAFKA_* security rules are tested with the Brokers they build: tests/unit/kafka.)"""

from __future__ import annotations

import pytest

from app.settings import load_settings


def test_broker_urls_faust_accepts_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_BROKER", "kafka://a:1;aiokafka://[::1]:2,kafka://c")
    settings = load_settings()
    assert settings.broker_addresses == [("a", 1), ("::1", 2), ("c", 9092)]
    assert settings.bootstrap_servers == ["a:1", "[::1]:2", "c"]
