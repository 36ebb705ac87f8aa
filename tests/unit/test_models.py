"""The committed models in models/: what every user of the default registry gets."""

from __future__ import annotations

import pytest

from app.inference.registry import ModelRegistry
from app.training.baselines import MostPopular
from app.training.evaluate import offline_top_k
from app.training.movielens import load_ratings
from app.training.split import leave_one_out
from app.training.train import catalogue
from tests.support.paths import MODELS


@pytest.mark.parametrize("name", sorted(p.name for p in MODELS.iterdir() if p.is_dir()))
def test_a_user_the_model_knows_nothing_about_gets_the_most_popular_items(name: str) -> None:
    """Cold start: no history, or only items outside the model's catalogue."""
    scorer = ModelRegistry(MODELS).load(name)
    try:
        ranked = offline_top_k(scorer, {"new": [], "stranger": ["no-such-item"]}, k=10)
    finally:
        scorer.close()
    split = leave_one_out(load_ratings())
    popular = MostPopular(catalogue(), list(split.train.values()))
    # The 20 most popular in the train part: a model refit on more data may order the
    # top of its popularity prior a little differently.
    top20 = {i.item_id for i in offline_top_k(popular, {"anyone": []}, k=20)["anyone"]}
    lists = [[i.item_id for i in ranked[user]] for user in ("new", "stranger")]
    assert lists[0] == lists[1] and len(lists[0]) == 10
    assert set(lists[0]) <= top20, lists[0]
