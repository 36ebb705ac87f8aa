"""Web server settings: the WEB_TLS_* files go together and must be readable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.settings import load_settings


def test_tls_is_off_unless_a_certificate_and_its_key_are_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings().web_tls_certfile is None
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("-")
    monkeypatch.setenv("STREAMREC_WEB_TLS_CERTFILE", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("STREAMREC_WEB_TLS_KEYFILE", str(tmp_path / "key.pem"))
    settings = load_settings()
    assert (settings.web_tls_certfile, settings.web_tls_cafile) == (tmp_path / "cert.pem", None)


def test_inconsistent_or_unreadable_tls_files_are_refused_naming_the_setting(
    problems_of: Callable[..., list[str]], tmp_path: Path
) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-")
    (problem,) = problems_of(STREAMREC_WEB_TLS_CERTFILE=str(cert))
    assert "STREAMREC_WEB_TLS_CERTFILE and STREAMREC_WEB_TLS_KEYFILE go together" in problem
    (problem,) = problems_of(STREAMREC_WEB_TLS_KEYFILE=str(tmp_path / "missing.key"))
    assert f"STREAMREC_WEB_TLS_KEYFILE='{tmp_path}/missing.key' cannot be read" in problem


def test_a_ca_without_a_certificate_is_refused(
    problems_of: Callable[..., list[str]], tmp_path: Path
) -> None:
    (tmp_path / "ca.pem").write_text("-")
    (problem,) = problems_of(STREAMREC_WEB_TLS_CAFILE=str(tmp_path / "ca.pem"))
    assert "STREAMREC_WEB_TLS_CAFILE set without STREAMREC_WEB_TLS_CERTFILE" in problem
