"""``faust -A app retrain``: learn the next version from the input topic itself.

The topic's interactions (decoded and filtered by the stream's own ingest) are split per user
in event time as ``train`` splits ml-100k: last event = test, the one before = validation.
The new version is trained with the serving version's algorithm (or the one asked for),
scored on the held-out events next to the serving version on the same events, and written
only if it is not worse (NDCG@10, within a tolerance for noise: the same data retrained can
flip a tie); the manifest records the topic, offsets and both versions' figures on those
events (``metrics.compared``: like for like, unlike each version's own ``metrics.test``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from app.errors import RetrainRefused, StreamrecError
from app.inference.manifest import ModelManifest, read_manifest
from app.inference.registry import ModelRegistry
from app.training.evaluate import ranking_metrics
from app.training.split import LeaveOneOut, leave_one_out
from app.training.topic_data import TopicData
from app.training.train import TrainingData, vocabulary

__all__ = ["ALGORITHMS", "Comparison", "Serving", "comparison_lines", "retrain_from"]

ALGORITHMS = ("itemsvd", "itemsvd-rated", "sasrec", "hybrid")


class Serving:
    """The version that serves now and its figures on the retrain's held-out events."""

    def __init__(self, registry: ModelRegistry, name: str, version: str | None) -> None:
        self.registry = registry
        self.name = name
        self.version = version

    def algorithm(self) -> str | None:
        if self.version is None:
            return None
        manifest = read_manifest(self.registry.root / self.name / self.version)
        algorithm = manifest.training.get("algorithm")
        return str(algorithm) if algorithm in ALGORITHMS else None

    def test_metrics(self, split: LeaveOneOut) -> dict[str, float] | None:
        if self.version is None:
            return None
        scorer = self.registry.load(self.name, self.version)
        try:
            return ranking_metrics(scorer, split.states("test"), split.test)
        finally:
            scorer.close()


class Comparison(msgspec.Struct, frozen=True):
    """Two versions scored on the same held-out events: the serving one and the new one.

    Recorded in the new version's manifest as ``metrics.compared``, so ``faust -A app
    models`` can set them side by side; each version's ``metrics.test`` stays on its own
    test set (ml-100k's for a version ``train`` made)."""

    events: int
    """Held-out events both were scored on (each user's last, of users with 3+)."""
    data: str
    """Where the events came from (``topic <name>``) and ``data_sha256``: which events."""
    data_sha256: str
    versions: dict[str, dict[str, float]]
    """Version -> its figures on these events (hr@10, ndcg@10, mrr@10, users); the serving
    version first (absent when none served), then the new one."""


def comparison_lines(comparison: Comparison, serving: str | None) -> list[str]:
    """The versions' figures side by side, for people: which events, then one row each."""
    lines = [
        f"both versions on the same {comparison.events:,} held-out events (each user's last; "
        f"{comparison.data}, sha256 {comparison.data_sha256[:12]}):",
        f"  {'version':<14} {'HR@10':>7} {'NDCG@10':>8} {'MRR@10':>7}",
    ]
    if serving is None:
        lines.append("  (no version serving: nothing to compare with)")
    for version, m in comparison.versions.items():
        label = f"{version} ({'serving' if version == serving else 'new'})"
        lines.append(
            f"  {label:<14} {m['hr@10']:7.4f} {m['ndcg@10']:8.4f} {m.get('mrr@10', 0.0):7.4f}"
        )
    return lines


def retrain_from(
    topic: TopicData,
    serving: Serving,
    algorithm: str | None,
    train: Callable[[str, TrainingData], Path],
    tolerance: float = 0.001,
    *,
    compared: Callable[[Comparison], None] = lambda _: None,
) -> Path:
    """Split ``topic``'s interactions, train ``algorithm`` (default: the serving one's, else
    itemsvd) with ``train``, write the version unless its test NDCG@10 is below the
    ``serving`` version's on the same held-out events by more than ``tolerance``.
    ``compared`` is told both versions' figures on those events before the write (or the
    refusal)."""
    if not topic.ratings:
        raise RetrainRefused(
            f"no valid interactions in {topic.topic} ({topic.records} records read, skipped "
            f"{topic.skipped or 'none'}): nothing to learn from"
        )
    split = leave_one_out(topic.ratings)
    if not split.test:
        raise RetrainRefused(
            f"no user in {topic.topic} has 3 interactions: nothing to hold out and judge by"
        )
    try:
        baseline = serving.test_metrics(split)
        algorithm = algorithm or serving.algorithm() or "itemsvd"
    except StreamrecError as exc:
        raise RetrainRefused(
            f"cannot score the serving version {serving.name}/{serving.version} on the held-out "
            f"events, so a new one cannot be judged against it: {exc}"
        ) from exc
    digest = topic.digest()

    def gate(staged: ModelManifest) -> dict[str, Any]:
        new = staged.metrics["test"]
        versions = {serving.version: baseline} if serving.version and baseline else {}
        comparison = Comparison(
            len(split.test), f"topic {topic.topic}", digest, {**versions, staged.version: new}
        )
        compared(comparison)
        if baseline is not None and new["ndcg@10"] < baseline["ndcg@10"] - tolerance:
            raise RetrainRefused(
                f"the new {algorithm} version scores worse offline than {serving.name}/"
                f"{serving.version} on the same {len(split.test)} held-out events "
                f"(NDCG@10 {new['ndcg@10']:.4f} < {baseline['ndcg@10']:.4f} - tolerance "
                f"{tolerance:g}, HR@10 {new['hr@10']:.4f} vs {baseline['hr@10']:.4f}): "
                "not published"
            )
        return {"compared": msgspec.to_builtins(comparison)}

    source: dict[str, Any] = {
        "data": f"topic {topic.topic}",
        "data_sha256": digest,
        "source": topic.describe(),
        "judged_against": {
            "version": serving.version,
            "test": baseline,
            "tolerance": tolerance,
        },
    }
    data = TrainingData(vocabulary(topic.ratings), split, source, gate)
    return train(algorithm, data)
