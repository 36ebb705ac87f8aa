"""Finding, loading and refusing model versions."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from app.errors import ModelLoadError, ModelNotFound
from app.inference.manifest import MANIFEST_FILE
from app.inference.registry import ModelRegistry, version_key
from tests.support.paths import MODELS
from tests.support.versions import copy_model


def test_versions_sort_numerically_and_skip_incomplete(tmp_path: Path) -> None:
    for v in ("2", "10", "1"):
        copy_model(tmp_path, v)
    (tmp_path / "itemsvd" / ".11-tmp").mkdir()  # a version still being written
    (tmp_path / "itemsvd" / "12").mkdir()  # no manifest: not a version
    registry = ModelRegistry(tmp_path)
    assert registry.versions("itemsvd") == ["1", "2", "10"]
    assert sorted(["b", "3", "a", "20"], key=version_key) == ["a", "b", "3", "20"]


def test_committed_model_loads_and_scores() -> None:
    scorer = ModelRegistry(MODELS).load("itemsvd")
    max_len = scorer.manifest.feature_spec.max_len
    history = np.zeros((3, max_len), dtype=np.int64)
    history[:, -1] = [1, 2, 3]
    scores = scorer.score({"history": history})
    assert scores.shape == (3, len(scorer.items))
    assert len(scorer.items) - 1 == 1682  # the ml-100k catalogue
    assert scorer.manifest.metrics["test"]["hr@10"] > 0.1
    scorer.close()


@pytest.mark.parametrize("name", ["itemsvd", "hybrid", "itemsvd-rated"])
def test_a_users_scores_do_not_depend_on_the_batch_they_fall_in(name: str) -> None:
    """onnxruntime takes another kernel for one row than for a batch; the scorer hides it,
    so the stream and the offline evaluation give a user bit-identical scores."""
    scorer = ModelRegistry(MODELS).load(name)
    max_len = scorer.manifest.feature_spec.max_len
    rng = np.random.default_rng(0)
    inputs = {spec.name: rng.integers(1, 6, size=(40, max_len)).astype(np.int64)
              if spec.datatype == "INT64" else rng.integers(1, 6, size=(40, max_len))
              .astype(np.float32) for spec in scorer.manifest.inputs}  # fmt: skip
    batch = scorer.score(inputs)
    for row in (0, 17, 39):
        alone = scorer.score({k: v[row : row + 1] for k, v in inputs.items()})
        assert np.array_equal(alone[0], batch[row])
    scorer.close()


def test_missing_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        ModelRegistry(tmp_path).load("itemsvd")
    with pytest.raises(ModelNotFound):
        ModelRegistry(MODELS).load("itemsvd", "999")


def test_corrupt_onnx_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    (path / "model.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load"):
        ModelRegistry(tmp_path).load("itemsvd")


def test_signature_mismatch_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    manifest = msgspec.json.decode((path / MANIFEST_FILE).read_bytes())
    manifest["inputs"][0]["name"] = "sequence"
    (path / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    with pytest.raises(ModelLoadError, match="sequence"):
        ModelRegistry(tmp_path).load("itemsvd")


def test_vocabulary_size_mismatch_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    items = msgspec.json.decode((path / "items.json").read_bytes())
    (path / "items.json").write_bytes(msgspec.json.encode(items[:-5]))
    with pytest.raises(ModelLoadError, match="scores shape"):
        ModelRegistry(tmp_path).load("itemsvd")


def test_manifest_must_match_its_directory(tmp_path: Path) -> None:
    copy_model(tmp_path, "7")
    with pytest.raises(ModelLoadError, match="manifest says itemsvd/1"):
        ModelRegistry(tmp_path).load("itemsvd")
