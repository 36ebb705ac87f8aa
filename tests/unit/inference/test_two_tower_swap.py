"""Swapping two-tower versions: the new one's index is built before it takes traffic, and
the current one keeps answering on the event loop meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.features.state import state_from_items
from app.inference.batcher import rank_states
from app.inference.registry import ModelRegistry
from app.inference.retrieval import ItemIndex
from app.inference.serving import ServedModel
from app.inference.two_tower import TwoTowerScorer
from app.metrics import AppMetrics
from app.settings.retrieval import RetrievalSettings
from devtools.catalog import user_histories
from tests.support.two_tower import write_small_two_tower

SERVED_DURING_BUILD = 20


async def test_the_old_version_serves_until_the_new_ones_index_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, catalog = write_small_two_tower(tmp_path, version="1")
    registry = ModelRegistry(tmp_path, RetrievalSettings(retrieval_exhaustive_below=0))
    model = ServedModel(registry, "tt", AppMetrics.create(CollectorRegistry()))
    assert (await model.load()).version == "1"
    write_small_two_tower(tmp_path, version="2", seed=1)

    # Version 2's build waits (on the loading thread) until the test has been served enough.
    may_finish, building = threading.Event(), threading.Event()
    real_build = ItemIndex.build

    def held_build(*args: object, **kwargs: object) -> ItemIndex:
        building.set()
        index = real_build(*args, **kwargs)  # type: ignore[arg-type]
        assert may_finish.wait(30)
        return index

    monkeypatch.setattr(ItemIndex, "build", held_build)
    states = [state_from_items(h) for h in user_histories(catalog, 16, 5).values()]
    reload = asyncio.create_task(model.reload())
    assert await asyncio.to_thread(building.wait, 30), "version 2 started loading"
    answered = []
    for _ in range(SERVED_DURING_BUILD):
        scorer = model.current
        assert scorer is not None
        answered.append(scorer.version)
        assert all(len(r) == 10 for r in await rank_states(scorer, states, 10))
    may_finish.set()
    new = await asyncio.wait_for(reload, 30)
    assert answered == ["1"] * SERVED_DURING_BUILD, "served by the old version meanwhile"
    assert isinstance(new, TwoTowerScorer) and new.index is not None and model.current is new
    assert new.version == "2"
    new.close()
