"""Settings: read from STREAMREC_* only, and every one documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


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
