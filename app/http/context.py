"""What every web handler reads: the worker's parts, in one frozen object built once by
``app.main`` (quixstreams' ``processing/context.py``), so a handler is a plain function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from app.features.state import UserFeatureState
from app.http.operator_state import ItemTitles, RecentRates
from app.inference.api_models import ApiModels
from app.inference.online import OnlineRanker
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout
from app.rollout.auto import AutoRollout
from app.trending.board import TrendingBoard
from app.worker.agent import RecommendAgent
from app.worker.health_state import WorkerHealth
from app.worker.progress import ProgressMonitor

__all__ = ["HttpContext"]


@dataclass(frozen=True)
class HttpContext:
    """The worker's collaborators and the settings its web handlers answer with."""

    app: faust.App
    features: faust.Table[str, UserFeatureState]
    latest: faust.Table[str, bytes]
    """Each user's latest recommendation update (the output JSON)."""
    rollout: Rollout
    ranker: OnlineRanker
    """Scores inference requests (batched with each other)."""
    models: ApiModels
    """What the inference API answers with: the main model, other versions on demand."""
    agent: RecommendAgent
    progress: ProgressMonitor
    health: WorkerHealth
    """Whether the broker answers and batches pass (readiness beyond Faust's own checks)."""
    registry: CollectorRegistry
    """The worker's metrics, as ``/metrics`` exposes them."""
    metrics: AppMetrics
    auth: AdminAuth
    board: TrendingBoard
    rates: RecentRates
    """The operator page's rates, sampled once a second by a worker timer."""
    app_id: str
    default_k: int
    """TOP_K: the inference API's K when a request names none."""
    stall_timeout_s: float
    output_topic: str
    shadow_topic: str
    trending: bool
    """TRENDING: whether this deployment counts trends."""
    auto: AutoRollout | None = None
    """The automatic rollout (AUTO_ROLLOUT on): /models/ shows its controller's latest look."""
    titles: ItemTitles = field(default_factory=ItemTitles)

    @property
    def model(self) -> ServedModel:
        """The main arm: what /health/ready, /models/ and the inference API speak of."""
        return self.rollout.main

    def models_report(self) -> dict[str, Any]:
        """The /models/ body: the rollout's report with this worker's live figures, and the
        versions held for the inference API alone (``api_models``, least recently used first)."""
        controller = self.auto.last if self.auto is not None else None
        report = self.rollout.report(
            self.registry, self.output_topic, self.shadow_topic, controller=controller
        )
        report["api_models"] = self.models.held_versions()
        return report
