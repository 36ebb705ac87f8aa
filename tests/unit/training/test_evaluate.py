"""Relevance of the committed models as the serving path ranks, offline."""

from __future__ import annotations

from app.inference.registry import ModelRegistry
from app.settings.model import ModelSettings
from app.training.evaluate import ranking_metrics
from app.training.movielens import load_ratings
from app.training.split import leave_one_out
from tests.support.paths import MODELS

DEFAULT_MODEL = ModelSettings.model_fields["model_name"].default


def test_without_event_times_the_default_model_is_still_at_least_the_light_one() -> None:
    """An inference request by history, or a producer that omits ``ts``, gives the model item
    ids without times (every age reads as long ago): the default must not fall below what
    itemsvd serves with the same input."""
    split = leave_one_out(load_ratings())
    histories = {u: [r.item_id for r in split.events[u][:-1]] for u in split.test}
    registry = ModelRegistry(MODELS)
    figures = {}
    for name in (DEFAULT_MODEL, "itemsvd"):
        scorer = registry.load(name)
        try:
            figures[name] = ranking_metrics(scorer, histories, split.test)
        finally:
            scorer.close()
    default, light = figures[DEFAULT_MODEL], figures["itemsvd"]
    assert default["hr@10"] >= light["hr@10"] and default["ndcg@10"] >= light["ndcg@10"], figures
