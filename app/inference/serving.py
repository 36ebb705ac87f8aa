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
        """Load and warm up a version on a thread; keep the old one on failure.

        A pinned version is that version or nothing. Otherwise the newest version that loads:
        a broken newest version (corrupt, incompatible) is logged, counted and skipped, so a
        bad drop into the registry never takes serving down, also not at the next restart.
        """
        async with self._lock:
            # Newest first; [None] when there is none, to let the registry say why.
            candidates: list[str | None] = (
                [self.version] if self.version else [*reversed(self.registry.versions(self.name))]
            ) or [None]
            scorer: OnnxScorer | None = None
            error: StreamrecError | None = None
            for n, version in enumerate(candidates):
                try:
                    scorer = await asyncio.to_thread(
                        self.registry.load, self.name, version, threads=self.threads
                    )
                    break
                except StreamrecError as exc:
                    self.metrics.model_loads.labels("failure").inc()
                    error = error or exc
                    if n + 1 < len(candidates):
                        logger.error("cannot load %s/%s, trying an older version: %s",
                                     self.name, version, exc)  # fmt: skip
            if scorer is None:
                # The caller logs and decides (retry, keep the old model).
                assert error is not None
                raise error
            old, self.current = self.current, scorer
            self.metrics.model_loads.labels("success").inc()
            if old is not None:
                self.metrics.model_info.labels(old.name, old.version, "main").set(0)
                old.close()
            self.metrics.model_info.labels(scorer.name, scorer.version, "main").set(1)
            return scorer
