"""The inference API's models: the stream's own, and other registry versions loaded on first
request, at most ``held`` of them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from app.errors import ModelNotFound
from app.inference.api_models import ApiModel, ApiModels
from app.inference.cache import PredictionCache
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from tests.support.paths import MODELS


def api_models(held: int) -> ApiModels:
    metrics = AppMetrics.create(CollectorRegistry())
    registry = ModelRegistry(MODELS)
    cache = PredictionCache("memory://", 10.0, 0.5, metrics)
    main = ServedModel(registry, "itemsvd", metrics, retire_after_s=0)
    ranker = OnlineRanker(main, cache, max_batch=8)
    return ApiModels(ApiModel(main, ranker), registry, cache, metrics, held=held, max_batch=8)


async def test_the_stream_model_answers_for_its_name_and_other_versions_load_on_demand() -> None:
    models = api_models(held=1)
    await models.main.model.load()
    assert await models.get("itemsvd", None) is models.main
    assert await models.get("itemsvd", "1") is models.main
    rated = await models.get("itemsvd-rated", None)
    assert rated.model.current is not None and rated.model.current.version == "1"
    assert await models.get("itemsvd-rated", "1") is rated  # held: not loaded again
    assert models.held_versions() == ["itemsvd-rated/1"]
    other = await models.get("hybrid-rank", "1")
    assert other.model.ready and models.held_versions() == ["hybrid-rank/1"]  # one held
    assert rated.model.current is None  # retired (closed once its last request is done)


async def test_unknown_models_and_versions_and_a_closed_api_are_refused() -> None:
    models = api_models(held=0)
    await models.main.model.load()
    with pytest.raises(ModelNotFound, match="unknown model 'nope'"):
        await models.get("nope", None)
    with pytest.raises(ModelNotFound, match="no version '7'"):
        await models.get("itemsvd", "7")
    with pytest.raises(ModelNotFound, match="STREAMREC_API_MODELS=0"):
        await models.get("itemsvd-rated", None)
