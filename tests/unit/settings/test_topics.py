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
