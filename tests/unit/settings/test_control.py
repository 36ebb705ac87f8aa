"""Control settings: the admin token from the variable or a file, never echoed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.settings import load_settings


def test_the_admin_token_comes_from_the_variable_or_a_file_and_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, problems_of: Callable[..., list[str]]
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

    (problem,) = problems_of(STREAMREC_ADMIN_TOKEN_FILE=str(secret))
    assert "both set" in problem and "hunter2" not in problem
    monkeypatch.delenv("STREAMREC_ADMIN_TOKEN_FILE")
    (problem,) = problems_of(STREAMREC_ADMIN_TOKEN="   ")
    assert problem.startswith("STREAMREC_ADMIN_TOKEN='***': empty")
    monkeypatch.delenv("STREAMREC_ADMIN_TOKEN")
    (problem,) = problems_of(STREAMREC_ADMIN_TOKEN_FILE=str(tmp_path / "absent"))
    assert "cannot read it" in problem


def test_the_automatic_rollout_needs_the_admin_token(
    problems_of: Callable[..., list[str]],
) -> None:
    (problem,) = problems_of(STREAMREC_AUTO_ROLLOUT="true")
    assert problem.startswith("STREAMREC_AUTO_ROLLOUT=true needs STREAMREC_ADMIN_TOKEN")
