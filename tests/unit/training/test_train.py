"""Training writes a complete, loadable, evaluated registry version."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.inference.manifest import read_manifest
from app.inference.registry import ModelRegistry
from app.training.export import write_version
from app.training.itemsvd import ItemSvdParams
from app.training.movielens import Rating
from app.training.split import leave_one_out
from app.training.train import train_itemsvd


def test_leave_one_out_is_chronological_per_user() -> None:
    ratings = [Rating("u", str(i), 5.0, i) for i in range(5)] + [Rating("v", "9", 1.0, 0)]
    split = leave_one_out(ratings)
    assert split.train == {"u": ["0", "1", "2"], "v": ["9"]}
    assert (split.valid, split.test) == ({"u": "3"}, {"u": "4"})


def test_train_writes_next_version_with_metrics(tmp_path: Path) -> None:
    params = ItemSvdParams(dim=16)
    first = train_itemsvd(tmp_path, params=params, progress=False)
    second = train_itemsvd(tmp_path, params=params, progress=False)
    assert (first.name, second.name) == ("1", "2")
    # Deterministic: the same data and parameters give the same model, byte for byte.
    assert (first / "model.onnx").read_bytes() == (second / "model.onnx").read_bytes()
    assert sorted(p.name for p in (tmp_path / "itemsvd").iterdir()) == ["1", "2"]
    manifest = read_manifest(second)
    assert manifest.training["data_sha256"]
    assert manifest.metrics["test"]["users"] == 943
    # Better than chance by far on ml-100k (random HR@10 is about 10/1682).
    assert manifest.metrics["test"]["hr@10"] > 0.05
    ModelRegistry(tmp_path).load("itemsvd").close()


def test_versions_are_immutable(tmp_path: Path) -> None:
    path = train_itemsvd(tmp_path, params=ItemSvdParams(dim=8), progress=False)
    with pytest.raises(FileExistsError):
        write_version(tmp_path, read_manifest(path), b"", [])
