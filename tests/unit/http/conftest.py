"""Factories for calling web handlers with no Faust app and no broker: a context of fakes
around the committed model, and aiohttp requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry
from yarl import URL

from app.http.context import HttpContext
from app.http.operator_state import RecentRates
from app.inference.api_models import ApiModel, ApiModels
from app.inference.cache import PredictionCache
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout
from app.trending.board import TrendingBoard
from app.trending.windows import TrendingConfig
from app.worker.health_state import WorkerHealth

MODELS = Path(__file__).resolve().parents[3] / "models"
"""The committed models: ``itemsvd`` has one version, ``1``."""

WORKER = "http://w1:6066"


class FakeApp:
    """What handlers read of a Faust app: recovery, rebalancing, this worker's URL, the
    router (``owners``: user id -> worker URL) and the HTTP client."""

    def __init__(self, owners: Mapping[str, str] | None = None) -> None:
        self.recovered = asyncio.Event()
        self.tables = SimpleNamespace(recovery=SimpleNamespace(completed=self.recovered))
        self.rebalancing = False
        self.conf = SimpleNamespace(canonical_url=WORKER)
        self.owners = dict(owners or {})
        self.router = SimpleNamespace(key_store=self._key_store)
        self.http_client = mock.Mock()

    def _key_store(self, table: str, user_id: str) -> URL:
        return URL(self.owners[user_id])  # KeyError: owners unknown, as Faust's router


class FakeTable(dict[str, Any]):
    """A table as handlers read it: ``get`` and its ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class FakeWorker:
    """The agent's and the progress monitor's figures that health reads."""

    def __init__(self) -> None:
        self.stalled_s = 0.0
        self.stuck_s = 0.0
        self.lag: dict[int, int] = {0: 3, 1: 0}

    def stalled_for(self) -> float:
        return self.stalled_s

    def stuck_for(self) -> float:
        return self.stuck_s

    def owned(self) -> list[int]:
        return sorted(self.lag)


@pytest.fixture
def context_factory() -> Callable[..., HttpContext]:
    """``make(**fields)``: a context whose model is the committed ``itemsvd`` (not loaded
    yet), tables are dicts, admin disabled; a field given replaces its part."""

    def make(**fields: Any) -> HttpContext:
        registry = CollectorRegistry()
        metrics = AppMetrics.create(registry)
        models = ModelRegistry(MODELS)
        main = ServedModel(models, "itemsvd", metrics, retire_after_s=0)
        cache = PredictionCache("memory://", 10.0, 0.5, metrics)
        worker = FakeWorker()
        now = [0.0]
        health = WorkerHealth(metrics, clock=lambda: now[0])
        health.broker_seen(True)
        now[0] = 86_400.0  # the broker has answered for a day
        ranker = OnlineRanker(main, cache, max_batch=64)
        api = ApiModels(ApiModel(main, ranker), models, cache, metrics, held=2, max_batch=64)
        parts: dict[str, Any] = {
            "app": FakeApp(), "features": FakeTable("features"), "latest": FakeTable("latest"),
            "rollout": Rollout(main, models, metrics), "ranker": ranker, "models": api,
            "agent": worker, "progress": worker, "health": health, "registry": registry,
            "metrics": metrics,
            "auth": AdminAuth(None), "board": TrendingBoard(TrendingConfig(top_n=20), 4),
            "rates": RecentRates(registry), "app_id": "streamrec", "default_k": 10,
            "stall_timeout_s": 30.0, "output_topic": "recommendations",
            "shadow_topic": "recommendations-shadow", "trending": True,
        }  # fmt: skip
        parts.update(fields)
        return HttpContext(**parts)

    return make


@pytest.fixture
def request_factory() -> Callable[..., web.Request]:
    """``make(method, path, body=b"", headers=None)``: a request as aiohttp hands it over."""

    def make(
        method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> web.Request:
        payload = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=mock.Mock())
        payload.feed_data(body)
        payload.feed_eof()
        return make_mocked_request(method, path, headers=headers, payload=payload)

    return make
