"""Relevance through a real worker started with default settings: replay ml-100k but each
user's last interaction; each user's last update scores the held-out item as the model does
offline (``faust -A app evaluate --stream`` against ``evaluate``), and the default model (the
hybrid) beats ItemSVD there and reaches HR@10 0.25 / NDCG@10 0.13."""

from __future__ import annotations

from collections.abc import Callable

from app.inference.registry import ModelRegistry
from app.settings.model import ModelSettings
from devtools.stream_eval import stream_relevance
from tests.support.deployment import Deployment
from tests.support.paths import MODELS


def offline_test_metrics(name: str) -> dict[str, float]:
    scorer = ModelRegistry(MODELS).load(name)
    try:
        return dict(scorer.manifest.metrics["test"])
    finally:
        scorer.close()


async def test_the_default_model_through_the_stream_scores_what_it_scores_offline(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory(default_model=True)
    await d.create_topics()
    d.start_worker()
    got = await stream_relevance(d.brokers, d.input_topic, d.output_topic, within_s=600)
    assert got["answered"] == got["users"] == 943, got

    offline = offline_test_metrics(ModelSettings.model_fields["model_name"].default)
    # Equal up to near-ties trading places across the rank-10 boundary (a row's scores may
    # differ in the last bits with the batch it was computed in).
    for metric in ("hr@10", "ndcg@10"):
        assert abs(got[metric] - offline[metric]) <= 2 / 943, (metric, got, offline)
        lo, hi = got[f"{metric}_ci"]
        assert lo < got[metric] < hi
    itemsvd = offline_test_metrics("itemsvd")
    assert got["hr@10"] > itemsvd["hr@10"] and got["ndcg@10"] > itemsvd["ndcg@10"]
    # The relevance target, past the SASRec anchor (0.227-0.231 / 0.119-0.121 here).
    assert got["hr@10"] >= 0.25 and got["ndcg@10"] >= 0.13, got
