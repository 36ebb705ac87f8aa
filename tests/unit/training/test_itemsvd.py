"""ItemSVD's ONNX graph computes what its numpy definition says, on any batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.training.itemsvd import ItemSvdParams, build_onnx, fit, reference_scores


def test_onnx_graph_matches_numpy_reference(tmp_path: Path) -> None:
    vocab = {str(i): i for i in range(1, 41)}
    rng = np.random.default_rng(0)
    sequences = [[str(i) for i in rng.integers(1, 41, size=30)] for _ in range(50)]
    params = ItemSvdParams(dim=8, max_len=6)
    emb, bias = fit(sequences, vocab, params)
    (tmp_path / "m.onnx").write_bytes(build_onnx(emb, bias, params))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    for batch in (1, 5, 33):
        history = rng.integers(0, 41, size=(batch, 6)).astype(np.int64)
        history[0] = 0  # a user with no known item yet
        (got,) = session.run(["scores"], {"history": history})
        want = reference_scores(emb, bias, history, params)
        assert got.shape == (batch, 41)
        assert np.abs(got - want).max() <= 1e-4
