"""The model manifest (``model-settings.json``) that sits beside every model artefact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from app.errors import ModelLoadError
from app.features.state import FEATURE_KIND

__all__ = [
    "MANIFEST_FILE", "QUERY_OUTPUT", "FeatureSpec", "ModelManifest", "RankerSpec", "RetrievalSpec",
    "TensorSpec", "read_manifest", "read_titles",
]  # fmt: skip


MANIFEST_FILE = "model-settings.json"
QUERY_OUTPUT = "query"
"""The output of a two-tower version's graph: one query vector per user."""
METRICS = ("ip",)
"""Item-vector similarities the retrieval stage serves (inner product)."""


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


class RetrievalSpec(msgspec.Struct, frozen=True):
    """A two-tower version's item side: the item vectors its query is matched against."""

    item_vectors_file: str = "item_vectors.npy"
    """float32 ``[len(items), D]``; row i is ``items[i]`` (score column i + 1)."""
    metric: str = "ip"
    """Similarity of query and item vectors: ``ip`` (inner product)."""
    index_file: str | None = None
    """A prebuilt ANN index (``faust -A app index``); without one it is built at load."""


class RankerSpec(msgspec.Struct, frozen=True):
    """An optional second stage: a graph that scores the retrieved candidates."""

    model_file: str = "ranker.onnx"
    """Inputs: the version's own plus ``candidates`` INT64 [batch, C]; output ``scores``."""
    candidates: int = 200
    """How many unseen candidates retrieval hands to the ranker per user."""


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
    retrieval: RetrievalSpec | None = None
    """Set for a two-tower version (its output is ``query``, not scores)."""
    ranker: RankerSpec | None = None
    """Set for a two-tower version whose candidates a ranker graph scores."""
    framework: str = "onnx"
    created: str = ""
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}


def read_manifest(version_dir: Path) -> ModelManifest:
    """Read and validate ``version_dir/model-settings.json``."""
    path = version_dir / MANIFEST_FILE
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=ModelManifest)
    except (OSError, msgspec.DecodeError) as exc:
        raise ModelLoadError(f"cannot read manifest {path}: {exc}") from exc
    _check_two_tower(path, manifest)
    return manifest


def _check_two_tower(path: Path, manifest: ModelManifest) -> None:
    """A query output comes with its item vectors, and a ranker with retrieval."""
    query = [o.name for o in manifest.outputs] == [QUERY_OUTPUT]
    retrieval = manifest.retrieval
    if query and retrieval is None:
        raise ModelLoadError(
            f"{path}: the output is {QUERY_OUTPUT!r} (a two-tower version) but there is no "
            f'"retrieval" section: add {{"item_vectors_file": "item_vectors.npy", '
            f'"metric": "ip"}} naming the item vectors'
        )
    if retrieval is not None and not query:
        raise ModelLoadError(
            f'{path}: a "retrieval" section needs the one output '
            f'{{"name": "{QUERY_OUTPUT}", "datatype": "FP32", "shape": [-1, D]}}, '
            f"the manifest has {[o.name for o in manifest.outputs]}"
        )
    if retrieval is not None and retrieval.metric not in METRICS:
        raise ModelLoadError(
            f"{path}: retrieval metric {retrieval.metric!r} is not served; use one of "
            f"{', '.join(METRICS)} (for cosine, normalise the vectors and use ip)"
        )
    if manifest.ranker is not None and (retrieval is None or manifest.ranker.candidates < 1):
        raise ModelLoadError(f'{path}: a "ranker" needs a "retrieval" section and candidates >= 1')


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
