"""Settings: read from STREAMREC_* only, and every one documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import InvalidSettings
from app.settings import Settings, load_settings
from tests.support.paths import README


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_TOP_K", "5")
    monkeypatch.setenv("STREAMREC_BROKER", "kafka://a:1;kafka://b:2")
    s = Settings()
    assert s.top_k == 5
    assert s.bootstrap_servers == ["a:1", "b:2"]


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_TOP_K", "0")
    with pytest.raises(ValueError, match="top_k"):
        Settings()


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [n for n in Settings.model_fields if f"`STREAMREC_{n.upper()}`" not in text]
    assert missing == []


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSettings) as caught:
        load_settings()
    return caught.value.problems


def test_each_bad_variable_gets_one_line_with_its_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problems = _problems(
        monkeypatch,
        STREAMREC_MAX_BATCH="abc",
        STREAMREC_TOP_K="-1",
        STREAMREC_CANARY="2:150",
        STREAMREC_CACHE_IN_STREAM="maybe",
    )
    assert sorted(problems) == [
        "STREAMREC_CACHE_IN_STREAM='maybe': Input should be a valid boolean, unable to "
        "interpret input; allowed: true or false",
        "STREAMREC_CANARY='2:150': not a canary; allowed: '<version>:<percent from 0 to 100>', "
        "e.g. '2:20'",
        "STREAMREC_MAX_BATCH='abc': Input should be a valid integer, unable to parse string "
        "as an integer; allowed: an integer from 1 to 100000",
        "STREAMREC_TOP_K='-1': Input should be greater than or equal to 1; allowed: an "
        "integer from 1 to 1000",
    ]


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("STREAMREC_STORE", "mongodb://x", "rocksdb:// or memory://"),
        ("STREAMREC_CACHE_URL", "memcached://x:11211", "memory:// or redis://"),
        ("STREAMREC_BROKER", "localhost:9092", "kafka://host:port"),
        ("STREAMREC_BROKER", "kafka://a:1;kafka://b:port", "kafka://host:port"),
    ],
)
def test_urls_with_an_unknown_scheme_or_shape_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str
) -> None:
    (problem,) = _problems(monkeypatch, **{name: value})
    assert problem.startswith(f"{name}={value!r}: ")
    assert allowed in problem


def test_broker_urls_faust_accepts_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_BROKER", "kafka://a:1;aiokafka://[::1]:2,kafka://c")
    assert load_settings().broker_addresses == [("a", 1), ("::1", 2), ("c", 9092)]


def test_a_misspelt_variable_is_reported_not_silently_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STREAMREC_MAXBATCH", "10")
    load_settings()
    assert "STREAMREC_MAXBATCH is not a streamrec setting" in caplog.text


def test_the_admin_token_comes_from_the_variable_or_a_file_and_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("STREAMREC_ADMIN_TOKEN_FILE", str(secret))
    assert load_settings().admin_secret == "from-a-file"
    monkeypatch.delenv("STREAMREC_ADMIN_TOKEN_FILE")
    monkeypatch.setenv("STREAMREC_ADMIN_TOKEN", "hunter2-but-longer")
    settings = load_settings()
    assert settings.admin_secret == "hunter2-but-longer"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())

    (problem,) = _problems(monkeypatch, STREAMREC_ADMIN_TOKEN_FILE=str(secret))
    assert "both set" in problem and "hunter2" not in problem
    monkeypatch.delenv("STREAMREC_ADMIN_TOKEN_FILE")
    (problem,) = _problems(monkeypatch, STREAMREC_ADMIN_TOKEN="   ")
    assert problem.startswith("STREAMREC_ADMIN_TOKEN='***': empty")
    monkeypatch.delenv("STREAMREC_ADMIN_TOKEN")
    (problem,) = _problems(monkeypatch, STREAMREC_ADMIN_TOKEN_FILE=str(tmp_path / "absent"))
    assert "cannot read it" in problem


def test_the_key_partitioner_takes_librdkafkas_names_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for given, meant in (("murmur2", "murmur2"), ("consistent_random", "crc32"),
                         ("CRC32", "crc32"), ("fnv1a", "fnv1a")):  # fmt: skip
        monkeypatch.setenv("STREAMREC_KEY_PARTITIONER", given)
        assert load_settings().partitioner.name == meant
    (problem,) = _problems(monkeypatch, STREAMREC_KEY_PARTITIONER="random")
    assert problem.startswith("STREAMREC_KEY_PARTITIONER='random'") and "crc32" in problem
