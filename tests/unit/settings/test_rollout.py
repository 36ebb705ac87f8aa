"""Rollout settings: the canary spec, read the same by the setting and the control topic."""

from __future__ import annotations

import pytest

from app.errors import RolloutRefused
from app.settings import load_settings, parse_canary


def test_parse_canary() -> None:
    assert parse_canary("v1:2:7.5") == ("v1:2", 7.5)
    for bad in ("2", ":20", "2:x", "2:-1", "2:100.5"):
        with pytest.raises(RolloutRefused, match="not a canary"):
            parse_canary(bad)


def test_the_canary_setting_splits_into_version_and_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().canary_split is None
    monkeypatch.setenv("STREAMREC_CANARY", "3:10")
    assert load_settings().canary_split == ("3", 10.0)
    monkeypatch.setenv("STREAMREC_CANARY", "")
    assert load_settings().canary is None
