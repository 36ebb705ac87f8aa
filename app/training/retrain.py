"""``faust -A app retrain``: learn the next version from the input topic itself.

The topic's interactions (decoded and filtered by the stream's own ingest) are split per user
in event time as ``train`` splits ml-100k: last event = test, the one before = validation.
The new version is trained with the serving version's algorithm (or the one asked for),
scored on the held-out events next to the serving version on the same events, and written
only if it is not worse (NDCG@10, within a tolerance for noise: the same data retrained can
flip a tie); the manifest records the topic, offsets and both scores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.errors import RetrainRefused, StreamrecError
from app.inference.manifest import read_manifest
from app.inference.registry import ModelRegistry
from app.training.evaluate import ranking_metrics
from app.training.split import LeaveOneOut, leave_one_out
from app.training.topic_data import TopicData
from app.training.train import TrainingData, vocabulary

__all__ = ["ALGORITHMS", "Serving", "retrain_from"]

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


def retrain_from(
    topic: TopicData,
    serving: Serving,
    algorithm: str | None,
    train: Callable[[str, TrainingData], Path],
    tolerance: float = 0.001,
) -> Path:
    """Split ``topic``'s interactions, train ``algorithm`` (default: the serving one's, else
    itemsvd) with ``train``, write the version unless its test NDCG@10 is below the
    ``serving`` version's on the same held-out events by more than ``tolerance``."""
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

    def gate(metrics: dict[str, dict[str, float]]) -> None:
        new = metrics["test"]
        if baseline is not None and new["ndcg@10"] < baseline["ndcg@10"] - tolerance:
            raise RetrainRefused(
                f"the new {algorithm} version scores worse offline than {serving.name}/"
                f"{serving.version} on the same {len(split.test)} held-out events "
                f"(NDCG@10 {new['ndcg@10']:.4f} < {baseline['ndcg@10']:.4f} - tolerance "
                f"{tolerance:g}, HR@10 {new['hr@10']:.4f} vs {baseline['hr@10']:.4f}): "
                "not published"
            )

    source: dict[str, Any] = {
        "data": f"topic {topic.topic}",
        "data_sha256": topic.digest(),
        "source": topic.describe(),
        "judged_against": {
            "version": serving.version,
            "test": baseline,
            "tolerance": tolerance,
        },
    }
    data = TrainingData(vocabulary(topic.ratings), split, source, gate)
    return train(algorithm, data)
