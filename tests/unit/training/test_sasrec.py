"""SASRec: training pairs from the stream's feature function, and an ONNX export that
matches PyTorch on any batch size."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch==2.13.0) is not installed")

from app.inference.registry import ModelRegistry  # noqa: E402
from app.training import sasrec  # noqa: E402
from app.training.evaluate import seeds_line  # noqa: E402
from app.training.sasrec import SasRec, SasRecParams, build_windows, export_onnx  # noqa: E402
from app.training.train import train_hybrid, train_sasrec  # noqa: E402


def test_windows_make_every_item_a_target_once_with_the_most_context() -> None:
    vocab = {str(i): i for i in range(1, 10)}
    seqs = [["1", "2", "3", "4", "5"], ["7"]]
    inputs, targets = build_windows(seqs, vocab, max_len=3, stride=2)
    # Windows end every 2 items from the end; 2 and 3 are targets in the earlier window
    # (more context there), so the later one keeps only 4 and 5. A 1-item user has none.
    assert inputs.tolist() == [[2, 3, 4], [0, 1, 2]]
    assert targets.tolist() == [[0, 4, 5], [0, 2, 3]]
    assert sorted(t for row in targets.tolist() for t in row if t) == [2, 3, 4, 5]


def test_tie_shuffle_reorders_only_items_of_the_same_second() -> None:
    seqs = [["a", "b", "c", "d", "e", "f"], ["x", "y"]]
    times = [[1, 1, 1, 2, 3, 3], [5, 6]]
    orders = set()
    shuffle = sasrec.TieShuffle(seqs, times, seed=0)
    for _ in range(50):
        first, second = shuffle()
        assert sorted(first[:3]) == ["a", "b", "c"] and first[3] == "d"
        assert sorted(first[4:]) == ["e", "f"]
        assert second == ["x", "y"]
        orders.add(tuple(first))
    assert len(orders) == 12  # 3! x 2! orders, all of them reached
    replay = sasrec.TieShuffle(seqs, times, seed=0)
    again = sasrec.TieShuffle(seqs, times, seed=0)
    assert [replay() for _ in range(5)] == [again() for _ in range(5)]
    with pytest.raises(ValueError, match="one timestamp per item"):
        sasrec.TieShuffle(seqs, [[1], [5, 6]], seed=0)


def test_padded_keys_do_not_change_a_users_scores() -> None:
    """The same history left-padded to two lengths scores the same: padding is masked."""
    torch.manual_seed(0)
    short = SasRec(30, SasRecParams(max_len=4, dim=16)).eval()
    long = SasRec(30, SasRecParams(max_len=8, dim=16)).eval()
    long.load_state_dict(short.state_dict() | {"pos_emb.weight": torch.cat(
        [torch.zeros(4, 16), short.pos_emb.weight.detach()])})  # fmt: skip
    with torch.no_grad():
        a = short(torch.tensor([[0, 5, 6, 7]]))
        b = long(torch.tensor([[0, 0, 0, 0, 0, 5, 6, 7]]))
    assert torch.allclose(a, b, atol=1e-5)


def test_onnx_export_matches_pytorch_on_any_batch_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    params = SasRecParams(max_len=8, dim=16)
    model = SasRec(30, params).eval()
    (tmp_path / "model.onnx").write_bytes(export_onnx(model, params.max_len))
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


def test_hybrid_is_one_checked_graph_with_weights_chosen_on_validation(tmp_path: Path) -> None:
    params = SasRecParams(max_epochs=1, eval_every=1, dim=16)
    path = train_hybrid(tmp_path, params=params, max_users=40, progress=False, seeds=(0, 1))
    manifest = msgspec.json.decode((path / "model-settings.json").read_bytes())
    training = manifest["training"]
    # Two seeds trained, the better on validation published, both recorded.
    seeds = training["seeds"]
    by_seed = seeds["by_seed"]
    assert set(by_seed) == {"0", "1"} and training["params"]["seed"] == seeds["chosen"]
    assert seeds["chosen"] == max((0, 1), key=lambda s: by_seed[str(s)]["valid"]["ndcg@10"])
    assert by_seed[str(seeds["chosen"])]["valid"] == manifest["metrics"]["valid"]
    tests = [by_seed[s]["test"]["hr@10"] for s in ("0", "1")]
    assert seeds["test_mean"]["hr@10"] == pytest.approx(sum(tests) / 2)
    assert seeds["test_sd"]["hr@10"] == pytest.approx(np.std(tests, ddof=1))
    # What `evaluate` prints under the table; nothing for a one-seed version.
    line = seeds_line(training)
    assert line is not None and f"HR@10 {seeds['test_mean']['hr@10']:.4f} (sd " in line
    assert seeds_line({"algorithm": "hybrid"}) is None
    # The test figures of the published graph (ONNX, serving path) are the PyTorch ones.
    for metric in ("hr@10", "ndcg@10"):
        want = by_seed[str(seeds["chosen"])]["test"][metric]
        assert abs(manifest["metrics"]["test"][metric] - want) <= 1 / 40
    assert training["onnx_max_abs_diff"] <= 1e-3
    by_weights = training["valid_ndcg@10_by_weights"]
    chosen = f"{training['itemsvd_weight']}/{training['ease_weight']}"
    assert by_weights[chosen] == max(by_weights.values())
    assert manifest["metrics"]["valid"]["ndcg@10"] == by_weights[chosen]
    scorer = ModelRegistry(tmp_path).load("hybrid")
    assert scorer.builders == {"history": "recent_items", "ages": "recent_age_s"}
    history = np.tile(np.arange(1, 51, dtype=np.int64), (2, 1))
    ages = np.zeros((2, 50), dtype=np.float32)
    ages[1] = np.arange(50, dtype=np.float32)[::-1] * 600  # ten minutes between items
    scores = scorer.score({"history": history, "ages": ages})
    assert scores.shape == (2, 1683)
    # The EASE part reads the ages: the same items, older, score otherwise.
    assert np.abs(scores[0] - scores[1]).max() > 1e-3
    scorer.close()


@pytest.mark.parametrize("blocks", [1, 2])
def test_serving_computes_only_the_last_position_and_agrees_with_training(blocks: int) -> None:
    torch.manual_seed(0)
    model = SasRec(30, SasRecParams(max_len=8, dim=16, blocks=blocks, heads=2)).eval()
    for block in model.blocks:  # biases too: the single-query path folds them differently
        torch.nn.init.normal_(block.attn.qkv.bias, std=0.5)
    history = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], [0] * 7 + [9]])
    with torch.no_grad():
        full = model.encode(history)[:, -1, :] @ model.item_emb.weight.T
        assert torch.allclose(model(history), full, atol=1e-5)
