"""``faust -A app train``: fit a model on ml-100k, evaluate it, write a new registry version.

PyTorch (the ``train`` extra) is imported only when SASRec is trained.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import numpy.typing as npt

from app.features.builders import BUILDERS, build_inputs
from app.inference.manifest import FeatureSpec, ModelManifest, TensorSpec
from app.inference.scorer import Inputs, OnnxScorer
from app.training.evaluate import ranking_metrics
from app.training.export import next_version, write_version
from app.training.itemsvd import ItemSvdParams, build_onnx, fit
from app.training.movielens import Rating, dataset_digest, dataset_dir, load_ratings, load_titles
from app.training.split import LeaveOneOut, leave_one_out

if TYPE_CHECKING:
    from app.training.sasrec import SasRecParams

__all__ = [
    "TrainingData", "catalogue", "train_hybrid", "train_itemsvd", "train_sasrec", "vocabulary",
    "with_figures",
]  # fmt: skip

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
    data: TrainingData | None = None,
) -> Path:
    """Train on the split's train part, report valid/test metrics, write the next version.

    With ``params.rating_weight`` the model has a second input, each event's rating (the
    ``recent_ratings`` builder): the model-input seam with more than the item ids.
    ``data``: other interactions than ml-100k's (``retrain``), with a gate on the metrics.
    """
    params = params or ItemSvdParams()
    data = data or TrainingData.movielens()
    items, split = data.items, data.split
    vocab = {item: i + 1 for i, item in enumerate(items)}
    emb, bias = fit(list(split.train.values()), vocab, params, progress=progress)
    onnx_bytes = build_onnx(emb, bias, params)
    algorithm = "itemsvd-rated" if params.rated else "itemsvd"
    training = {"algorithm": algorithm, "params": params.as_dict()}
    inputs = {"history": "recent_items", **({"ratings": "recent_ratings"} if params.rated else {})}
    return _publish(
        model_dir, name, params.max_len, onnx_bytes, items, split, training, inputs=inputs,
        data=data,
    )  # fmt: skip


def train_sasrec(
    model_dir: Path,
    name: str = "sasrec",
    params: SasRecParams | None = None,
    *,
    max_users: int | None = None,
    progress: bool = True,
    data: TrainingData | None = None,
) -> Path:
    """Train SASRec (early stopping on validation NDCG@10), export ONNX, check the export
    against PyTorch, evaluate through the serving path, write the next version."""
    from app.training.sasrec import SasRecParams, export_onnx

    params = params or SasRecParams()
    data = data or TrainingData.movielens(max_users)
    items, split = data.items, data.split
    model, summary = _fit_sasrec(items, params, split, progress)
    training = {"algorithm": "sasrec", **_torch_training(params, split), **summary}
    return _publish(
        model_dir, name, params.max_len, export_onnx(model, params.max_len), items, split,
        training, check=_export_gap(model, items, split, params.max_len), data=data,
    )  # fmt: skip


def train_hybrid(
    model_dir: Path,
    name: str = "hybrid",
    params: SasRecParams | None = None,
    *,
    max_users: int | None = None,
    progress: bool = True,
    data: TrainingData | None = None,
    seeds: Sequence[int] = (),
) -> Path:
    """SASRec + ItemSVD + EASE in one graph (``training.hybrid``), chosen on validation.

    1. On the train part: SASRec (early stopping on validation NDCG@10), ItemSVD and EASE
       (on ``ease.windows`` of the timelines); the two weights of the sum are the pair of
       ``hybrid.*_WEIGHTS`` with the best validation NDCG@10.
    2. ItemSVD and EASE (closed form, deterministic, seconds) are refit on train + each
       user's validation item, the interactions just before the test ones: on a nested
       split (fit without each user's last train item, judged on validation) that gained
       HR@10 0.264 -> 0.269. SASRec is not refit (minutes, and a refit's seed noise is
       larger than what it could gain).
    The manifest's validation figures are step 1's: the served parts learned those items.

    ``seeds``: train one hybrid per seed (each as long as one), publish the best on
    validation, and record every seed's validation and test figures with their mean and
    spread under ``training.seeds``.
    """
    from app.training.hybrid import HYBRID_BLOCKS, Hybrid
    from app.training.sasrec import SasRecParams, export_onnx

    params = params or SasRecParams(blocks=HYBRID_BLOCKS)
    data = data or TrainingData.movielens(max_users)
    items, split = data.items, data.split
    candidates = {
        seed: _hybrid_candidate(data, msgspec.structs.replace(params, seed=seed), progress)
        for seed in (seeds or [params.seed])
    }
    seed = max(candidates, key=lambda s: candidates[s].valid["ndcg@10"])
    model, training = candidates[seed].model, candidates[seed].training
    if seeds:
        training["seeds"] = _seed_summary(candidates, seed)
    return _publish(
        model_dir, name, params.max_len, export_onnx(model, params.max_len, list(Hybrid.INPUTS)),
        items, split, training, inputs=Hybrid.INPUTS, valid=candidates[seed].valid, data=data,
        check=_export_gap(model, items, split, params.max_len, Hybrid.INPUTS),
    )  # fmt: skip


@dataclass(frozen=True)
class _Candidate:
    """One seed's hybrid: the model, its manifest training record, its figures."""

    model: Any
    training: dict[str, Any]
    valid: dict[str, float]
    test: dict[str, float]
    valid_model: Any = None
    """The same weights with ItemSVD and EASE fit on train only: what ``valid`` measured."""


def _hybrid_candidate(data: TrainingData, params: SasRecParams, progress: bool) -> _Candidate:
    """``train_hybrid``'s steps 1 and 2 for one seed (``params.seed``)."""
    from app.training import ease
    from app.training.hybrid import EASE_NEIGHBOURS, EASE_WEIGHTS, SVD_WEIGHTS, Hybrid, Parts

    svd_params = ItemSvdParams()
    items, split = data.items, data.split
    vocab = {item: i + 1 for i, item in enumerate(items)}
    train = list(split.train.values())
    sasrec, summary = _fit_sasrec(items, params, split, progress)

    def parts(sequences: list[list[str]]) -> Parts:
        emb, bias = fit(sequences, vocab, svd_params)
        return Parts(emb, bias, ease.fit(ease.windows(sequences), vocab))

    fitted, valid_states = parts(train), split.states("valid")
    chosen = {}
    for w in itertools.product(SVD_WEIGHTS, EASE_WEIGHTS):
        hybrid = Hybrid(sasrec, fitted, svd_params, *w)
        scorer = _TorchScorer(hybrid, items, vocab, params.max_len, Hybrid.INPUTS)
        chosen[w] = ranking_metrics(scorer, valid_states, split.valid)
    best = max(chosen, key=lambda w: chosen[w]["ndcg@10"])
    full = [[*seq, split.valid[u]] if u in split.valid else seq for u, seq in split.train.items()]
    model = Hybrid(sasrec, parts(full), svd_params, *best)
    test = ranking_metrics(
        _TorchScorer(model, items, vocab, params.max_len, Hybrid.INPUTS),
        split.states("test"), split.test,
    )  # fmt: skip
    training = {
        "algorithm": "hybrid",
        **_torch_training(params, split),
        **summary,
        "itemsvd_weight": best[0], "ease_weight": best[1],
        "ease": {"l2": ease.DEFAULT_L2, "window": ease.WINDOW, "stride": ease.STRIDE,
                 "age_scale_s": ease.AGE_SCALE_S, "age_floor": ease.AGE_FLOOR,
                 "neighbours": EASE_NEIGHBOURS},
        "valid_ndcg@10_by_weights": {f"{a}/{b}": chosen[a, b]["ndcg@10"] for a, b in chosen},
        "itemsvd_params": svd_params.as_dict(),
        "refit": "itemsvd and ease on train + validation item; sasrec on train",
    }  # fmt: skip
    return _Candidate(
        model, training, chosen[best], test, Hybrid(sasrec, fitted, svd_params, *best)
    )


def _seed_summary(candidates: Mapping[int, _Candidate], chosen: int) -> dict[str, Any]:
    """Each seed's figures, and the test figures' mean and sample standard deviation."""
    metrics = ("hr@10", "ndcg@10", "mrr@10")
    tests = {m: np.array([c.test[m] for c in candidates.values()]) for m in metrics}
    return {
        "chosen": chosen,
        "by_seed": {str(s): {"valid": c.valid, "test": c.test} for s, c in candidates.items()},
        "test_mean": {m: float(v.mean()) for m, v in tests.items()},
        "test_sd": {m: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for m, v in tests.items()},
    }


Gate = Callable[[ModelManifest], dict[str, Any]]
"""Called with a staged version's manifest (metrics filled) before it is written: raises to
stop the write, or returns entries to add to its metrics (``retrain``: the comparison)."""


@dataclass(frozen=True)
class TrainingData:
    """What a model learns from: the vocabulary, the split, how the manifest names the data,
    and an optional gate on the metrics (``retrain`` refuses a worse version with it)."""

    items: list[str]
    split: LeaveOneOut
    source: dict[str, Any]
    gate: Gate | None = None
    titles: Mapping[str, str] | None = None
    """Item id -> title, written with the version for people to read (optional)."""

    @classmethod
    def movielens(cls, max_users: int | None = None) -> TrainingData:
        source = {"data": "ml-100k (recbole==1.2.1 wheel)", "data_sha256": dataset_digest()}
        return cls(catalogue(), _split(max_users), source, titles=load_titles())


def vocabulary(ratings: Sequence[Rating]) -> list[str]:
    """The items of ``ratings``, numeric ids in numeric order first (ml-100k's catalogue
    order, so a model trained from the topic matches one trained from the files)."""
    items = {r.item_id for r in ratings}
    return sorted(items, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


def _split(max_users: int | None) -> LeaveOneOut:
    """The ml-100k split; with ``max_users``, only the first users (a small slice for tests)."""
    split = leave_one_out(load_ratings())
    if max_users is None:
        return split
    keep = sorted(split.test, key=int)[:max_users]
    return LeaveOneOut(
        train={u: split.train[u] for u in keep},
        valid={u: split.valid[u] for u in keep},
        test={u: split.test[u] for u in keep},
        events={u: split.events[u] for u in keep},
    )


def _fit_sasrec(
    items: list[str],
    params: SasRecParams,
    split: LeaveOneOut,
    progress: bool,
) -> tuple[Any, dict[str, float]]:
    """A SASRec trained on the split's train sequences, early-stopped on its validation
    NDCG@10."""
    import torch
    from tqdm import tqdm

    from app.training.sasrec import SasRec, TieShuffle, build_windows, fit

    torch.manual_seed(params.seed)
    torch.use_deterministic_algorithms(True)
    vocab = {item: i + 1 for i, item in enumerate(items)}
    users = list(split.train.items())
    if params.shuffle_ties:
        # The split's events begin with each user's train items, in the same order.
        times = [[float(r.ts) for r in split.events[u][: len(seq)]] for u, seq in users]
        shuffled = TieShuffle([seq for _, seq in users], times, params.seed)

        def windows() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
            return build_windows(shuffled(), vocab, params.max_len, params.stride)
    else:
        fixed = build_windows([seq for _, seq in users], vocab, params.max_len, params.stride)

        def windows() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
            return fixed

    model = SasRec(len(items), params)
    scorer = _TorchScorer(model, items, vocab, params.max_len)
    bar = tqdm(total=params.max_epochs, unit="epoch", desc="train sasrec", disable=not progress)
    valid_states = split.states("valid")

    def on_eval(epoch: int, loss: float, score: float) -> None:
        bar.update(epoch - bar.n)
        bar.set_postfix(loss=f"{loss:.3f}", valid_ndcg10=f"{score:.4f}")

    summary = fit(
        model, windows,
        lambda _: ranking_metrics(scorer, valid_states, split.valid)["ndcg@10"],
        progress=on_eval,
    )  # fmt: skip
    bar.close()
    return model, summary


def _torch_training(params: SasRecParams, split: LeaveOneOut) -> dict[str, Any]:
    import torch

    return {"framework": f"torch {torch.__version__}", "users": len(split.train),
            "params": msgspec.structs.asdict(params)}  # fmt: skip


def _export_gap(
    model: Any,
    items: list[str],
    split: LeaveOneOut,
    max_len: int,
    inputs: Mapping[str, str] | None = None,
) -> Callable[[OnnxScorer], dict[str, Any]]:
    """The exported graph against the PyTorch model on real users (their test-time states),
    both fed by the stream's feature builders."""
    vocab = {item: i + 1 for i, item in enumerate(items)}
    torch_scorer = _TorchScorer(model, items, vocab, max_len, inputs)

    def check(scorer: OnnxScorer) -> dict[str, Any]:
        states = list(split.states("test").values())[:256]
        probe = build_inputs(states, torch_scorer.builders, vocab, max_len)
        gap = np.abs(scorer.score(probe) - torch_scorer.score(probe)).max()
        return {"onnx_max_abs_diff": float(gap)}

    return check


def _publish(
    model_dir: Path,
    name: str,
    max_len: int,
    onnx_bytes: bytes,
    items: list[str],
    split: LeaveOneOut,
    training: dict[str, Any],
    *,
    inputs: dict[str, str] | None = None,
    check: Callable[[OnnxScorer], dict[str, Any]] | None = None,
    valid: dict[str, float] | None = None,
    data: TrainingData | None = None,
) -> Path:
    """Stage the version, score it through the serving path (validation and test metrics,
    plus ``check``'s findings), then write it as the next version of ``name``.

    ``inputs``: graph input -> feature builder (default: ``history`` from ``recent_items``).
    ``valid``: the validation figures to record instead (a model refit on validation items).
    ``data``: where the interactions came from (default ml-100k) and the gate to pass.
    """
    data = data or TrainingData.movielens()
    source, titles = data.source, data.titles
    inputs = inputs or {"history": "recent_items"}
    manifest = ModelManifest(
        name=name,
        version=next_version(model_dir, name),
        inputs=[
            TensorSpec(tensor, BUILDERS[builder].datatype, [-1, max_len])
            for tensor, builder in inputs.items()
        ],
        outputs=[TensorSpec("scores", "FP32", [-1, len(items) + 1])],
        feature_spec=FeatureSpec(
            kind="recent_items", max_len=max_len, inputs=inputs if len(inputs) > 1 else {}
        ),
        titles_file="titles.json" if titles else None,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        training={
            **source,
            "split": "chronological leave-one-out per user",
            **training,
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        scorer = OnnxScorer(write_version(Path(tmp), manifest, onnx_bytes, items, titles))
        try:
            scorer.warm_up()
            found = check(scorer) if check else {}
            valid = valid or ranking_metrics(scorer, split.states("valid"), split.valid)
            test = ranking_metrics(scorer, split.states("test"), split.test)
        finally:
            scorer.close()
    manifest = with_figures(manifest, data, found, valid, test)
    return write_version(model_dir, manifest, onnx_bytes, items, titles)


def with_figures(
    manifest: ModelManifest,
    data: TrainingData,
    found: Mapping[str, Any],
    valid: dict[str, float],
    test: dict[str, float],
) -> ModelManifest:
    """The staged manifest with its checks and figures, and the gate's (``retrain``) if any."""
    manifest = msgspec.structs.replace(
        manifest,
        training={**manifest.training, **found},
        metrics={"valid": valid, "test": test},
    )
    logger.info("%s valid %s test %s %s", manifest.name, valid, test, dict(found))
    if data.gate is not None:
        manifest = msgspec.structs.replace(
            manifest, metrics={**manifest.metrics, **data.gate(manifest)}
        )
    return manifest


class _TorchScorer:
    """The PyTorch model behind the ``Scorer`` interface, for validation while training."""

    def __init__(
        self,
        model: Any,
        items: list[str],
        vocab: dict[str, int],
        max_len: int,
        inputs: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.items = ["", *items]
        self.vocab = vocab
        self.builders = dict(inputs or {"history": "recent_items"})
        self.name, self.version = "sasrec", "training"
        self.manifest = ModelManifest(
            name=self.name, version=self.version,
            inputs=[TensorSpec(tensor, BUILDERS[builder].datatype, [-1, max_len])
                    for tensor, builder in self.builders.items()],
            outputs=[],
            feature_spec=FeatureSpec(
                max_len=max_len, inputs=self.builders if len(self.builders) > 1 else {}
            ),
        )  # fmt: skip

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        import torch

        tensors = [torch.from_numpy(np.asarray(inputs[name])) for name in self.builders]
        with torch.no_grad():
            return np.asarray(self.model(*tensors).numpy(), dtype=np.float32)

    async def score_async(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        return self.score(inputs)
