"""The model manifest (``model-settings.json``) that sits beside every model artefact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from app.errors import ModelLoadError
from app.features.state import FEATURE_KIND

__all__ = [
    "MANIFEST_FILE", "FeatureSpec", "ModelManifest", "TensorSpec", "read_manifest", "read_titles",
]  # fmt: skip


MANIFEST_FILE = "model-settings.json"


class TensorSpec(msgspec.Struct, frozen=True):
    """One model input or output: name, Open Inference Protocol datatype, shape (-1 = dynamic)."""

    name: str
    datatype: str
    shape: list[int]


class FeatureSpec(msgspec.Struct, frozen=True):
    """Which feature builders make the model's inputs from the user state."""

    kind: str = FEATURE_KIND
    """The builder of a one-input model's input (when ``inputs`` is empty)."""
    max_len: int = 50
    """Events in every input's window."""
    inputs: dict[str, str] = {}
    """Input tensor name -> feature builder (``app.features.builders.BUILDERS``)."""

    def builders(self, tensors: list[TensorSpec]) -> dict[str, str]:
        """Input tensor -> builder, in the graph's input order."""
        if self.inputs:
            return {t.name: self.inputs.get(t.name, "") for t in tensors}
        return {t.name: self.kind for t in tensors[:1]}


class ModelManifest(msgspec.Struct, frozen=True):
    """What a model version is, what it reads and returns, and how it was made."""

    name: str
    version: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    feature_spec: FeatureSpec
    items_file: str = "items.json"
    model_file: str = "model.onnx"
    titles_file: str | None = None
    """Optional item metadata for people: a JSON object, item id -> title (the operator
    page shows it); scoring never reads it."""
    framework: str = "onnx"
    created: str = ""
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}


def read_manifest(version_dir: Path) -> ModelManifest:
    """Read and validate ``version_dir/model-settings.json``."""
    path = version_dir / MANIFEST_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=ModelManifest)
    except (OSError, msgspec.DecodeError) as exc:
        raise ModelLoadError(f"cannot read manifest {path}: {exc}") from exc


def read_titles(version_dir: Path, manifest: ModelManifest) -> dict[str, str]:
    """The version's item titles; {} without a titles file or if it cannot be read (titles
    are for display: their absence never stops serving)."""
    if manifest.titles_file is None:
        return {}
    try:
        titles = msgspec.json.decode((version_dir / manifest.titles_file).read_bytes())
    except (OSError, msgspec.DecodeError):
        return {}
    if not isinstance(titles, dict):
        return {}
    return {str(k): str(v) for k, v in titles.items()}
