"""The faust-streaming, mode and aiokafka versions streamrec's patches were written for.

The patches in this package replace or wrap private Faust and aiokafka code. Another release
may have moved that code, fixed the bug differently or changed what the patch relies on, and
a patch applied to code it does not fit loses records silently. So the worker refuses to
start on other versions, naming them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from app.errors import CannotStart

__all__ = ["PATCHED_FOR", "check_versions"]


PATCHED_FOR = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}
"""Distribution -> the version every patch here was written and tested against."""


def check_versions(installed: Callable[[str], str] | None = None) -> None:
    """CannotStart naming each installed version that differs from ``PATCHED_FOR``."""
    installed = installed or metadata.version
    wrong = []
    for name, wanted in PATCHED_FOR.items():
        try:
            found = installed(name)
        except metadata.PackageNotFoundError:
            found = "not installed"
        if found != wanted:
            wrong.append(f"{name} {found} (streamrec's Faust patches are for {wanted})")
    if wrong:
        raise CannotStart(
            "untested library versions: " + "; ".join(wrong) + ". Install the versions "
            "pyproject.toml pins (`make install`), or port the patches in app/worker/faust_compat/ "
            "and their tests to the new versions first"
        )
