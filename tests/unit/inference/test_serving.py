"""The served model: a broken newest version is skipped, a pinned one is not replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.errors import ModelLoadError
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from tests.support.versions import add_version, copy_model


def served(tmp_path: Path, version: str | None = None) -> tuple[ServedModel, CollectorRegistry]:
    registry = CollectorRegistry()
    model = ServedModel(
        ModelRegistry(tmp_path), "itemsvd", AppMetrics.create(registry), version=version
    )
    return model, registry


async def test_a_broken_newest_version_is_skipped_and_counted(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=True)
    model, registry = served(tmp_path)
    scorer = await model.load()
    assert scorer.version == "1"
    assert registry.get_sample_value("streamrec_model_loads_total", {"result": "failure"}) == 1
    assert registry.get_sample_value("streamrec_model_loads_total", {"result": "success"}) == 1
    scorer.close()


async def test_a_pinned_version_is_that_version_or_nothing(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=True)
    model, _ = served(tmp_path, version="2")
    with pytest.raises(ModelLoadError):
        await model.load()
    assert model.current is None


async def test_reload_serves_the_newest_and_rollback_the_one_before(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    model, registry = served(tmp_path)
    assert (await model.load()).version == "1"
    add_version(tmp_path, "2", corrupt=False)
    assert (await model.reload()).version == "2"
    assert (await model.rollback()).version == "1"
    assert model.served == ["1"]
    with pytest.raises(ModelLoadError, match="no earlier version"):
        await model.rollback()
    # A broken newest version is refused; the current one keeps serving.
    add_version(tmp_path, "3", corrupt=True)
    with pytest.raises(ModelLoadError):
        await model.reload()
    assert model.current is not None and model.current.version == "1"
    assert registry.get_sample_value("streamrec_model_loads_total", {"result": "failure"}) == 1
