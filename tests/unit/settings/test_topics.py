"""Topic settings: the key partitioner by any client's name, the topics derived from the ids."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.settings import load_settings


def test_the_key_partitioner_takes_librdkafkas_names_too(
    monkeypatch: pytest.MonkeyPatch, problems_of: Callable[..., list[str]]
) -> None:
    for given, meant in (("murmur2", "murmur2"), ("consistent_random", "crc32"),
                         ("CRC32", "crc32"), ("fnv1a", "fnv1a")):  # fmt: skip
        monkeypatch.setenv("STREAMREC_KEY_PARTITIONER", given)
        assert load_settings().key_partitioner == meant
    (problem,) = problems_of(STREAMREC_KEY_PARTITIONER="random")
    assert problem.startswith("STREAMREC_KEY_PARTITIONER='random'") and "crc32" in problem


def test_derived_topics_follow_the_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_APP_ID", "dep")
    s = load_settings()
    assert (s.control_topic, s.evidence_topic) == ("dep.control", "dep.control.evidence")
    assert (s.by_item_topic, s.trending_topic) == ("dep-interactions-item_id-repartition",
                                                   "dep-trending")  # fmt: skip
    assert s.shadow_topic == "recommendations.shadow"
    monkeypatch.setenv("STREAMREC_CONTROL_TOPIC", "ops")
    assert load_settings().control_topic == "ops"


@pytest.mark.parametrize(
    ("name", "value"),
    [("STREAMREC_OUTPUT_TOPIC", "no such topic!"), ("STREAMREC_INPUT_TOPIC", ".."),
     ("STREAMREC_DLQ_TOPIC", "x" * 250), ("STREAMREC_APP_ID", "my app"),
     ("STREAMREC_CONTROL_TOPIC", "ctl/1")],
)  # fmt: skip
def test_names_kafka_would_refuse_are_refused_at_start(
    problems_of: Callable[..., list[str]], name: str, value: str
) -> None:
    (problem,) = problems_of(**{name: value})
    assert problem.startswith(f"{name}={value!r}: not a Kafka topic name; allowed: ")


def test_names_made_from_the_settings_must_fit_kafkas_limit(
    problems_of: Callable[..., list[str]],
) -> None:
    (problem,) = problems_of(STREAMREC_APP_ID="a" * 120, STREAMREC_INPUT_TOPIC="i" * 120)
    assert "over Kafka's 249: shorten them" in problem
