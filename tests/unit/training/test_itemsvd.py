"""ItemSVD's ONNX graph computes what its numpy definition says, on any batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.training.itemsvd import ItemSvdParams, build_onnx, fit, rating_factor, reference_scores


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


def test_the_rated_graph_reads_ratings_as_its_numpy_definition_says(tmp_path: Path) -> None:
    vocab = {str(i): i for i in range(1, 41)}
    rng = np.random.default_rng(1)
    sequences = [[str(i) for i in rng.integers(1, 41, size=30)] for _ in range(50)]
    params = ItemSvdParams(dim=8, max_len=6, rating_weight=-0.25)
    emb, bias = fit(sequences, vocab, params)
    (tmp_path / "m.onnx").write_bytes(build_onnx(emb, bias, params))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert [i.name for i in session.get_inputs()] == ["history", "ratings"]
    history = rng.integers(1, 41, size=(7, 6)).astype(np.int64)
    ratings = rng.choice([0.0, 1.0, 3.0, 5.0], size=(7, 6)).astype(np.float32)
    (got,) = session.run(["scores"], {"history": history, "ratings": ratings})
    want = reference_scores(emb, bias, history, params, ratings)
    assert np.abs(got - want).max() <= 1e-4
    # The ratings matter: all-neutral ratings give other scores.
    (neutral,) = session.run(["scores"], {"history": history, "ratings": np.zeros_like(ratings)})
    assert np.abs(got - neutral).max() > 1e-3
    assert rating_factor(np.array([0.0, 1.0, 3.0, 5.0], np.float32), -0.25).tolist() == [
        1.0, 1.5, 1.0, 0.5,
    ]  # fmt: skip
