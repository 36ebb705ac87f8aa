"""retrain's judgement: nothing to learn from is refused; a new version is gated on the
serving version's figures on the same held-out events; the vocabulary keeps ml-100k's order."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from app.errors import RetrainRefused
from app.inference.manifest import FeatureSpec, ModelManifest, read_manifest
from app.inference.registry import ModelRegistry
from app.training.evaluate import ranking_metrics
from app.training.movielens import Rating, load_ratings
from app.training.retrain import Comparison, Serving, comparison_lines, retrain_from
from app.training.split import LeaveOneOut, leave_one_out
from app.training.topic_data import TopicData
from app.training.train import TrainingData, train_itemsvd, vocabulary
from tests.support.paths import MODELS


class FixedServing(Serving):
    """A serving version with given held-out figures (no registry)."""

    def __init__(self, test: dict[str, float] | None) -> None:
        super().__init__(None, "itemsvd", "1" if test else None)  # type: ignore[arg-type]
        self.test = test

    def algorithm(self) -> str | None:
        return "itemsvd" if self.test else None

    def test_metrics(self, split: LeaveOneOut) -> dict[str, float] | None:
        return self.test


def topic(ratings: list[Rating]) -> TopicData:
    return TopicData("interactions", ratings, {0: (0, len(ratings) - 1)}, len(ratings), {})


RATINGS = [Rating(u, str(i), 4.0, 1000 + i) for u in ("a", "b") for i in range(1, 6)]


def test_an_empty_topic_or_one_without_held_out_events_is_refused() -> None:
    with pytest.raises(RetrainRefused, match="no valid interactions"):
        retrain_from(topic([]), FixedServing(None), None, lambda *_: Path())
    with pytest.raises(RetrainRefused, match="3 interactions"):
        retrain_from(topic(RATINGS[:2]), FixedServing(None), None, lambda *_: Path())


@pytest.mark.parametrize(("new", "published"), [(0.10, True), (0.0995, True), (0.0985, False)])
def test_a_version_is_published_only_if_not_worse_than_the_serving_one(
    new: float, published: bool
) -> None:
    written: list[TrainingData] = []

    def train(algorithm: str, data: TrainingData) -> Path:
        assert algorithm == "itemsvd" and data.split.test == {"a": "5", "b": "5"}
        assert data.gate is not None
        staged = ModelManifest(
            "itemsvd", "2", [], [], FeatureSpec(), metrics={"valid": {}, "test": figures}
        )
        added = data.gate(staged)
        assert added["compared"]["versions"] == {"1": serving.test, "2": figures}
        written.append(data)
        return Path("v2")

    serving = FixedServing({"hr@10": 0.2, "ndcg@10": 0.10})
    figures = {"hr@10": 0.2, "ndcg@10": new}
    if published:
        assert retrain_from(topic(RATINGS), serving, None, train) == Path("v2")
        judged = written[0].source["judged_against"]
        assert judged == {"version": "1", "test": serving.test, "tolerance": 0.001}
    else:
        with pytest.raises(RetrainRefused, match=r"worse offline than itemsvd/1 .* not published"):
            retrain_from(topic(RATINGS), serving, None, train)


def test_the_vocabulary_puts_numeric_ids_in_numeric_order_first() -> None:
    ratings = [Rating("u", i, 1.0, 0) for i in ("10", "b", "2", "a", "1")]
    assert vocabulary(ratings) == ["1", "2", "10", "a", "b"]


def test_both_versions_are_scored_on_the_same_held_out_events_and_both_recorded(
    tmp_path: Path,
) -> None:
    """The serving version's figure in the comparison is a direct evaluation of it on the new
    version's test events (not its own, ml-100k's), and the count is the same for both."""
    registry = tmp_path / "registry"
    shutil.copytree(MODELS / "itemsvd" / "1", registry / "itemsvd" / "1")
    keep = {str(u) for u in range(1, 201)}
    ratings = [r for r in load_ratings() if r.user_id in keep]
    ratings.sort(key=lambda r: int(r.user_id))  # user by user, each in time order (stable)
    told: list[Comparison] = []

    def train(algorithm: str, data: TrainingData) -> Path:
        return train_itemsvd(registry, data=data, progress=False)

    serving = Serving(ModelRegistry(registry), "itemsvd", "1")
    path = retrain_from(topic(ratings), serving, None, train, tolerance=1.0, compared=told.append)

    made = read_manifest(path)
    compared = made.metrics["compared"]
    split = leave_one_out(ratings)
    scorer = ModelRegistry(registry).load("itemsvd", "1")
    try:
        direct = ranking_metrics(scorer, split.states("test"), split.test)
    finally:
        scorer.close()
    assert list(compared["versions"]) == ["1", "2"]
    assert compared["versions"]["1"] == direct
    assert compared["versions"]["2"] == made.metrics["test"]
    assert compared["events"] == len(split.test) == direct["users"] == made.metrics["test"]["users"]
    assert compared["data_sha256"] == made.training["data_sha256"]
    assert told == [msgspec.convert(compared, Comparison)]
    # The serving version's own figure stays what it was, on its own test set.
    own = read_manifest(registry / "itemsvd" / "1").metrics["test"]
    assert own["users"] == 943 != compared["events"] and own != direct
    lines = comparison_lines(told[0], "1")
    assert lines[0].startswith(f"both versions on the same {len(split.test)} held-out events")
    assert lines[2].split()[:4] == ["1", "(serving)", f"{direct['hr@10']:.4f}",
                                    f"{direct['ndcg@10']:.4f}"]  # fmt: skip
    assert lines[3].split()[:2] == ["2", "(new)"]
