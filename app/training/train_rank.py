"""``train --algorithm hybrid-rank``: the hybrid trained as today, published in two stages.

The hybrid is trained and its weights chosen exactly as ``train --algorithm hybrid`` does
(``train._hybrid_candidate``); it is then split (``hybrid_rank.split_hybrid``) into a query
graph, item vectors and a ranker graph, and measured the way serving ranks (retrieval, then
the ranker on the unseen candidates: ``two_stage``). A name of its own, not a new ``hybrid``
version: a two-tower version needs a serving side that retrieves, and an operator opts in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from app.inference.manifest import FeatureSpec, ModelManifest, TensorSpec
from app.training.export import next_version, write_version
from app.training.hybrid import Hybrid
from app.training.hybrid_rank import RankParams, split_hybrid
from app.training.rank_export import INPUTS, export_graphs, manifest_sections, parity
from app.training.split import LeaveOneOut
from app.training.train import (
    TrainingData,
    _hybrid_candidate,
    _seed_summary,
    _torch_training,
    with_figures,
)
from app.training.two_stage import TwoStageVersion, two_stage_metrics

if TYPE_CHECKING:
    from app.training.sasrec import SasRecParams

__all__ = ["publish_two_stage", "train_hybrid_rank"]

logger = logging.getLogger(__name__)


def train_hybrid_rank(
    model_dir: Path,
    name: str = "hybrid-rank",
    params: SasRecParams | None = None,
    rank: RankParams | None = None,
    *,
    max_users: int | None = None,
    progress: bool = True,
    data: TrainingData | None = None,
    seeds: Sequence[int] = (),
) -> Path:
    """Train the hybrid (one per seed, the best on validation), write it as a two-stage
    version: its figures through retrieval + ranker, the full hybrid's beside them."""
    from app.training.hybrid import HYBRID_BLOCKS
    from app.training.sasrec import SasRecParams

    params = params or SasRecParams(blocks=HYBRID_BLOCKS)
    data = data or TrainingData.movielens(max_users)
    candidates = {
        seed: _hybrid_candidate(data, msgspec.structs.replace(params, seed=seed), progress)
        for seed in (seeds or [params.seed])
    }
    seed = max(candidates, key=lambda s: candidates[s].valid["ndcg@10"])
    chosen = candidates[seed]
    training = {**chosen.training, "algorithm": "hybrid-rank",
                "full_hybrid": {"valid": chosen.valid, "test": chosen.test}}  # fmt: skip
    if seeds:
        training["seeds"] = _seed_summary(candidates, seed)
    return publish_two_stage(
        model_dir, name, chosen.model, chosen.valid_model, rank or RankParams(), data,
        {**_torch_training(params, data.split), **training},
    )  # fmt: skip


def publish_two_stage(
    model_dir: Path,
    name: str,
    hybrid: Hybrid,
    valid_hybrid: Hybrid,
    rank: RankParams,
    data: TrainingData,
    training: Mapping[str, Any],
) -> Path:
    """Split ``hybrid`` (the served weights) and ``valid_hybrid`` (the same with the parts
    fit before the validation items), measure both as serving ranks, check the export, and
    write the next version of ``name`` (through ``data.gate`` if it has one)."""
    max_len = hybrid.sasrec.params.max_len
    stage = split_hybrid(hybrid, rank)
    graphs = export_graphs(stage, max_len)
    files = {k: v for k, v in graphs.items() if k != "model.onnx"}
    manifest = ModelManifest(
        name=name,
        version=next_version(model_dir, name),
        inputs=[TensorSpec("history", "INT64", [-1, max_len]),
                TensorSpec("ages", "FP32", [-1, max_len])],
        outputs=[TensorSpec("query", "FP32", [-1, stage.item_vectors.shape[1]])],
        feature_spec=FeatureSpec(kind="recent_items", max_len=max_len, inputs=dict(INPUTS)),
        titles_file="titles.json" if data.titles else None,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        training={**data.source, "split": "chronological leave-one-out per user",
                  **training, "rank": dataclasses.asdict(rank),
                  "retrieval_in_metrics": "exact (every item vector)"},
    )  # fmt: skip
    sections = manifest_sections(stage)
    split = data.split
    vocab = {item: i + 1 for i, item in enumerate(data.items)}
    probe = list(split.states("test").values())[:256]
    found = parity(stage, graphs, probe, vocab, max_len)
    valid_stage = split_hybrid(valid_hybrid, rank)
    valid_graphs = export_graphs(valid_stage, max_len)
    valid = _measure(manifest, valid_graphs, sections, data, split, "valid")
    test = _measure(manifest, graphs, sections, data, split, "test")
    manifest = with_figures(manifest, data, found, valid, test)
    return write_version(
        model_dir, manifest, graphs["model.onnx"], data.items, data.titles,
        files=files, sections=sections,
    )  # fmt: skip


def _measure(
    manifest: ModelManifest,
    graphs: Mapping[str, bytes],
    sections: Mapping[str, Any],
    data: TrainingData,
    split: LeaveOneOut,
    upto: str,
) -> dict[str, float]:
    """Figures on the validation or test users of a staged copy of the version."""
    files = {k: v for k, v in graphs.items() if k != "model.onnx"}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_version(
            Path(tmp), manifest, graphs["model.onnx"], data.items, data.titles,
            files=files, sections=sections,
        )  # fmt: skip
        version = TwoStageVersion(path)
        targets = split.valid if upto == "valid" else split.test
        return two_stage_metrics(version, split.states(upto), targets)
