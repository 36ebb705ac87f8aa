"""Settings: read from STREAMREC_* only, one line per bad variable, every one documented in
docs/configuration.md, in one table per scope."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from app.settings import Scope, Settings, load_settings
from tests.support.paths import CONFIGURATION_DOC


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_TOP_K", "5")
    monkeypatch.setenv("STREAMREC_BROKER", "kafka://a:1;kafka://b:2")
    s = Settings()
    assert s.top_k == 5
    assert s.bootstrap_servers == ["a:1", "b:2"]
    assert {"top_k", "broker"} <= s.model_fields_set  # (and CONTROL_TOPIC, from APP_ID)


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_TOP_K", "0")
    with pytest.raises(ValueError, match="top_k"):
        Settings()


def test_every_setting_is_documented_in_the_configuration_page() -> None:
    text = CONFIGURATION_DOC.read_text()
    missing = [n for n in Settings.model_fields if f"`STREAMREC_{n.upper()}`" not in text]
    assert missing == []


def _scopes() -> list[type[Scope]]:
    """The scopes ``Settings`` combines, in the order their fields come."""
    bases = reversed(Settings.__mro__)
    return [c for c in bases if issubclass(c, Scope) and c not in (Scope, Settings)]


def test_the_configuration_page_has_one_table_per_scope_listing_its_settings_in_order() -> None:
    page = CONFIGURATION_DOC.read_text()
    tables = [re.findall(r"^\| `STREAMREC_(\w+)`", t, re.M) for t in page.split("\n\n")]
    documented = [[name.lower() for name in table] for table in tables if table]
    assert documented == [list(scope.model_fields) for scope in _scopes()]
    # Each table sits under a heading naming the module that defines its scope.
    modules = re.findall(r"^## .*\(`app/settings/(\w+)\.py`\)", page, re.M)
    assert modules == [scope.__module__.rpartition(".")[2] for scope in _scopes()]


def test_every_field_is_documented_by_its_docstring() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_each_bad_variable_gets_one_line_with_its_value_and_what_is_allowed(
    problems_of: Callable[..., list[str]],
) -> None:
    problems = problems_of(
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
        ("STREAMREC_REDIS_SINK_URL", "http://x", "redis:// or rediss:// or unix://"),
        ("STREAMREC_BROKER", "localhost:9092", "kafka://host:port"),
        ("STREAMREC_BROKER", "kafka://a:1;kafka://b:port", "kafka://host:port"),
    ],
)
def test_urls_with_an_unknown_scheme_or_shape_are_refused_at_start(
    problems_of: Callable[..., list[str]], name: str, value: str, allowed: str
) -> None:
    (problem,) = problems_of(**{name: value})
    assert problem.startswith(f"{name}={value!r}: ")
    assert allowed in problem


def test_a_misspelt_variable_is_reported_not_silently_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STREAMREC_MAXBATCH", "10")
    load_settings()
    assert "STREAMREC_MAXBATCH is not a streamrec setting" in caplog.text
