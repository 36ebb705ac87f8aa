"""The Faust patches refuse versions they were not written for, naming them."""

from __future__ import annotations

from importlib import metadata

import pytest

from app.errors import CannotStart
from app.main import load_app
from app.worker.faust_compat import PATCHED_FOR, check_versions


def test_the_installed_versions_are_the_patched_ones() -> None:
    check_versions()  # what `make install` installs from pyproject.toml's pins


def test_another_version_is_refused_with_names_and_versions() -> None:
    def installed(name: str) -> str:
        if name == "aiokafka":
            raise metadata.PackageNotFoundError(name)
        return "9.9.9" if name == "faust-streaming" else PATCHED_FOR[name]

    with pytest.raises(CannotStart) as caught:
        check_versions(installed)
    message = str(caught.value)
    assert "faust-streaming 9.9.9 (streamrec's Faust patches are for 0.15.3)" in message
    assert "aiokafka not installed" in message
    assert "mode-streaming" not in message


def test_the_app_refuses_to_start_on_them_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "0.16.0" if name == "faust-streaming" else real(name)
    )
    with pytest.raises(SystemExit) as exited:
        load_app()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("streamrec: cannot start: start-up check failed:")
    assert "faust-streaming 0.16.0" in err
