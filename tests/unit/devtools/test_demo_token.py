"""The demo's admin token file: random, owner-only, kept across runs."""

from __future__ import annotations

import stat
from pathlib import Path

from app.settings import Settings
from devtools.demo_token import demo_admin_token


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_made_once_owner_only_and_read_by_the_settings(tmp_path: Path) -> None:
    path = demo_admin_token(tmp_path / "var" / "demo-admin-token")
    token = path.read_text().strip()
    assert path.is_absolute() and mode(path) == 0o600 and len(token) >= 40
    assert demo_admin_token(path).read_text().strip() == token  # kept: a pasted line stays good
    assert Settings(admin_token_file=path).admin_secret == token
    other = demo_admin_token(tmp_path / "elsewhere" / "demo-admin-token")
    assert other.read_text().strip() != token  # random, not a default


def test_an_empty_file_gets_a_token_and_loose_permissions_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "demo-admin-token"
    path.write_text("\n")
    path.chmod(0o644)
    assert demo_admin_token(path).read_text().strip()
    assert mode(path) == 0o600
    path.chmod(0o644)
    demo_admin_token(path)
    assert mode(path) == 0o600
