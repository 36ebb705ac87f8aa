"""retrain's judgement: nothing to learn from is refused; a new version is gated on the
serving version's figures on the same held-out events; the vocabulary keeps ml-100k's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import RetrainRefused
from app.training.movielens import Rating
from app.training.retrain import Serving, retrain_from
from app.training.split import LeaveOneOut
from app.training.topic_data import TopicData
from app.training.train import TrainingData, vocabulary


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
        data.gate({"valid": {}, "test": {"hr@10": 0.2, "ndcg@10": new}})
        written.append(data)
        return Path("v2")

    serving = FixedServing({"hr@10": 0.2, "ndcg@10": 0.10})
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
