"""Write a model version directory atomically: model.onnx + model-settings.json + items.json
(+ titles.json when the data names its items)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from app.inference.manifest import MANIFEST_FILE, ModelManifest
from app.inference.registry import ModelRegistry

__all__ = ["next_version", "write_version"]

logger = logging.getLogger(__name__)


def next_version(model_dir: Path, name: str) -> str:
    """One more than the newest numeric version of ``name`` ("1" for the first)."""
    numeric = [int(v) for v in ModelRegistry(model_dir).versions(name) if v.isdigit()]
    return str(max(numeric, default=0) + 1)


def write_version(
    model_dir: Path,
    manifest: ModelManifest,
    onnx_bytes: bytes,
    items: Sequence[str],
    titles: Mapping[str, str] | None = None,
    *,
    files: Mapping[str, bytes] | None = None,
    sections: Mapping[str, Any] | None = None,
) -> Path:
    """Create ``model_dir/name/version``; readers never see a half-written directory.
    ``titles`` go to the manifest's ``titles_file`` (which must be set with them);
    ``files`` (name -> bytes) are written beside the graph, and ``sections`` are added to
    the manifest (a two-tower version's ``retrieval`` and ``ranker``)."""
    base = model_dir / manifest.name
    base.mkdir(parents=True, exist_ok=True)
    final = base / manifest.version
    if final.exists():
        raise FileExistsError(f"{final} exists; versions are immutable")
    # A dot-directory is invisible to the registry until the rename makes it whole.
    tmp = Path(tempfile.mkdtemp(prefix=f".{manifest.version}-", dir=base))
    try:
        (tmp / manifest.model_file).write_bytes(onnx_bytes)
        for file, content in (files or {}).items():
            (tmp / file).write_bytes(content)
        (tmp / manifest.items_file).write_bytes(msgspec.json.encode(list(items)))
        if manifest.titles_file is not None:
            known = titles or {}
            wanted = {item: known[item] for item in items if item in known}
            (tmp / manifest.titles_file).write_bytes(msgspec.json.encode(wanted))
        document = {**msgspec.to_builtins(manifest), **(sections or {})}
        (tmp / MANIFEST_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(document)))
        os.chmod(tmp, 0o755)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote model %s/%s to %s", manifest.name, manifest.version, final)
    return final
