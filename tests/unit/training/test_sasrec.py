"""SASRec: training pairs from the stream's feature function, and an ONNX export that
matches PyTorch on any batch size."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch==2.13.0) is not installed")

from app.inference.registry import ModelRegistry  # noqa: E402
from app.training.sasrec import SasRec, SasRecParams, build_windows, export_onnx  # noqa: E402
from app.training.train import train_sasrec  # noqa: E402


def test_windows_pair_each_prefix_with_its_next_item() -> None:
    vocab = {str(i): i for i in range(1, 10)}
    inputs, targets = build_windows([["1", "2", "3", "4", "5"], ["7"]], vocab, max_len=3)
    # The 5-item sequence needs two windows so that every item after the first is a target.
    assert inputs.tolist() == [[2, 3, 4], [0, 0, 1]]
    assert targets.tolist() == [[3, 4, 5], [0, 0, 2]]


def test_onnx_export_matches_pytorch_on_any_batch_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    params = SasRecParams(max_len=8, dim=16)
    model = SasRec(30, params).eval()
    (tmp_path / "model.onnx").write_bytes(export_onnx(model))
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    rng = np.random.default_rng(0)
    for batch in (1, 7, 64):
        history = rng.integers(0, 31, size=(batch, 8)).astype(np.int64)
        history[0, :5] = 0  # left padding, as the stream sends it
        with torch.no_grad():
            want = model(torch.from_numpy(history)).numpy()
        (got,) = session.run(["scores"], {"history": history})
        assert got.shape == (batch, 31)
        assert np.abs(got - want).max() <= 1e-4


def test_training_writes_a_servable_checked_version(tmp_path: Path) -> None:
    params = SasRecParams(max_epochs=2, eval_every=1, dim=16)
    path = train_sasrec(tmp_path, params=params, max_users=40, progress=False)
    manifest = msgspec.json.decode((path / "model-settings.json").read_bytes())
    assert manifest["training"]["onnx_max_abs_diff"] <= 1e-4
    assert manifest["training"]["users"] == 40
    assert set(manifest["metrics"]) == {"valid", "test"}
    ModelRegistry(tmp_path).load("sasrec").close()


def test_training_is_deterministic_given_a_seed(tmp_path: Path) -> None:
    params = SasRecParams(max_epochs=1, eval_every=1, dim=8, max_len=10)
    first = train_sasrec(tmp_path / "a", params=params, max_users=20, progress=False)
    second = train_sasrec(tmp_path / "b", params=params, max_users=20, progress=False)
    a = ModelRegistry(tmp_path / "a").load("sasrec")
    b = ModelRegistry(tmp_path / "b").load("sasrec")
    history = np.arange(1, 41, dtype=np.int64).reshape(4, 10)
    assert np.array_equal(a.score({"history": history}), b.score({"history": history}))
    assert first.name == second.name == "1"
