"""Model versions for tests: copies of the committed ``itemsvd/1`` in a test's registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec

from app.inference.manifest import MANIFEST_FILE
from tests.support.paths import MODELS

__all__ = ["add_version", "copy_model"]


def copy_model(tmp_path: Path, version: str = "1") -> Path:
    """``itemsvd/1`` copied as ``<tmp_path>/itemsvd/<version>`` (its manifest unchanged)."""
    dest = tmp_path / "itemsvd" / version
    shutil.copytree(MODELS / "itemsvd" / "1", dest)
    return dest


def add_version(tmp_path: Path, version: str, corrupt: bool) -> None:
    """A copy whose manifest says ``version``; ``corrupt``: its graph is garbage."""
    path = copy_model(tmp_path, version)
    manifest = msgspec.json.decode((path / MANIFEST_FILE).read_bytes())
    manifest["version"] = version
    (path / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    if corrupt:
        (path / "model.onnx").write_bytes(b"\x08\x07not a model")
