"""The model a worker serves: loaded off the event loop at worker start, then swapped whole."""

from __future__ import annotations

import asyncio
import logging

from app.errors import StreamrecError
from app.inference.registry import ModelRegistry
from app.inference.scorer import OnnxScorer
from app.metrics import AppMetrics

__all__ = ["ServedModel"]

logger = logging.getLogger(__name__)


class ServedModel:
    """Holds the scorer in service; ``current`` is replaced atomically, never mutated."""

    def __init__(
        self,
        registry: ModelRegistry,
        name: str,
        metrics: AppMetrics,
        *,
        version: str | None = None,
        threads: int = 1,
    ) -> None:
        self.registry = registry
        self.name = name
        self.version = version
        self.threads = threads
        self.metrics = metrics
        self.current: OnnxScorer | None = None
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.current is not None

    async def load(self) -> OnnxScorer:
        """Load and warm up the configured version on a thread; keep the old one on failure."""
        async with self._lock:
            try:
                scorer = await asyncio.to_thread(
                    self.registry.load, self.name, self.version, threads=self.threads
                )
            except StreamrecError:
                # The caller logs and decides (retry, keep the old model); here it is counted.
                self.metrics.model_loads.labels("failure").inc()
                raise
            old, self.current = self.current, scorer
            self.metrics.model_loads.labels("success").inc()
            if old is not None:
                self.metrics.model_info.labels(old.name, old.version).set(0)
                old.close()
            self.metrics.model_info.labels(scorer.name, scorer.version).set(1)
            return scorer
