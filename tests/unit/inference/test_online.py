"""Synchronous requests: batched with each other, answered from the cache when seen before."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry

from app.features.state import state_from_items
from app.inference.batcher import ModelBatch, Ranked, rank_states
from app.inference.cache import PredictionCache
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from tests.support.versions import copy_model


async def ranker(tmp_path: Path) -> tuple[OnlineRanker, list[int]]:
    """A ranker on the real model; the list collects the batch size of every model call."""
    copy_model(tmp_path)
    metrics = AppMetrics.create(CollectorRegistry())
    model = ServedModel(ModelRegistry(tmp_path), "itemsvd", metrics)
    scorer = await model.load()
    calls: list[int] = []
    rank_async = scorer.rank_async

    async def counted(batch: ModelBatch, k: int) -> Ranked:
        calls.append(len(batch.inputs["history"]))
        await asyncio.sleep(0.01)  # a model call long enough for requests to pile up
        return await rank_async(batch, k)

    scorer.rank_async = counted  # type: ignore[method-assign]
    cache = PredictionCache("memory://", 10.0, 0.5, metrics)
    return OnlineRanker(model, cache, max_batch=64), calls


async def test_concurrent_requests_share_model_calls_and_get_their_own_answers(
    tmp_path: Path,
) -> None:
    online, calls = await ranker(tmp_path)
    histories = [[str(i), str(i + 1), str(i + 7)] for i in range(1, 101)]
    answers = await asyncio.gather(
        *(online.rank(state_from_items(h), 5 + i % 3) for i, h in enumerate(histories))
    )
    # All arrived before the first call: two calls, the first as large as allowed.
    assert calls == [64, 36]
    scorer = online.model.current
    assert scorer is not None
    expected = await rank_states(scorer, [state_from_items(h) for h in histories], 7)
    for i, ((served_by, items, source), best) in enumerate(zip(answers, expected, strict=True)):
        assert served_by is scorer and source == "model"
        assert items == best[: 5 + i % 3]


async def test_the_same_inputs_again_are_answered_from_the_cache(tmp_path: Path) -> None:
    online, calls = await ranker(tmp_path)
    state = state_from_items(["50", "172", "133"])
    first = await online.rank(state, 10)
    again = await online.rank(state_from_items(["50", "172", "133"]), 10)
    assert again == first and calls == [1]
    await online.rank(state, 5)  # another K is another question
    assert calls == [1, 1]
