"""The model a worker serves: loaded off the event loop at worker start, then swapped whole."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from app.errors import ModelLoadError, StreamrecError
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
        retire_after_s: float = 30.0,
        variant: str = "main",
    ) -> None:
        self.registry = registry
        self.name = name
        self.version = version
        self.threads = threads
        self.metrics = metrics
        self.retire_after_s = retire_after_s
        self.variant = variant
        """The traffic arm this model serves (the ``model_info`` label)."""
        self.current: OnnxScorer | None = None
        self.served: list[str] = []
        """Versions put in service, oldest first (what a rollback goes back through)."""
        self.attempted: set[str] = set()
        """Every version this worker tried to load, whether it loaded or not."""
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.current is not None

    async def load(self, first: str | None = None, skip: Collection[str] = ()) -> OnnxScorer:
        """Load and warm up a version on a thread; keep the old one on failure.

        A pinned version is that version or nothing. Otherwise ``first`` (the version the
        rollout state wants), then the newest version that loads and is not in ``skip``: a
        broken newest version (corrupt, incompatible) is logged, counted and skipped, so a
        bad drop into the registry never takes serving down, also not at the next restart.
        """
        if self.version:
            return await self._load_first([self.version])
        newest_first = [v for v in reversed(self.registry.versions(self.name)) if v not in skip]
        if first is not None:
            newest_first = [first, *(v for v in newest_first if v != first)]
        # [None] when there is none, to let the registry say why.
        candidates: list[str | None] = [*newest_first] or [None]
        return await self._load_first(candidates)

    async def serve(self, version: str) -> OnnxScorer:
        """Serve ``version`` now (a rollout decision); on failure keep the current one."""
        return await self._load_first([self.version or version])

    def retire(self) -> None:
        """Stop serving (a canary that ended): the scorer is closed once a batch that picked
        it has surely finished."""
        old, self.current = self.current, None
        if old is not None:
            self.metrics.model_info.labels(old.name, old.version, self.variant).set(0)
            asyncio.get_running_loop().call_later(self.retire_after_s, old.close)

    async def reload(self) -> OnnxScorer:
        """Serve the newest version now (or the pinned one); on failure keep the current one.

        Unlike the start-up load there is no falling back to older versions: an operator
        asked for the newest, and a failure says why while the current model keeps serving.
        """
        candidates: list[str | None] = [self.version or self.registry.newest(self.name)]
        return await self._load_first(candidates)

    async def rollback(self) -> OnnxScorer:
        """Serve the version that served before the current one, the same way as a reload."""
        if len(self.served) < 2:
            raise ModelLoadError(f"{self.name}: no earlier version served by this worker")
        return await self._load_first([self.served[-2]], rolling_back=True)

    async def _load_first(
        self, candidates: list[str | None], rolling_back: bool = False
    ) -> OnnxScorer:
        """Load the first candidate that loads (warmed up, off the loop) and swap it in."""
        async with self._lock:
            scorer: OnnxScorer | None = None
            error: StreamrecError | None = None
            for n, version in enumerate(candidates):
                if version is not None:
                    self.attempted.add(version)
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
            if rolling_back:
                self.served.pop()
            else:
                self.served.append(scorer.version)
            if old is not None:
                self.metrics.model_info.labels(old.name, old.version, self.variant).set(0)
                # A batch may have picked the old scorer just before the swap: it is closed
                # once such a batch has surely finished, not under it.
                asyncio.get_running_loop().call_later(self.retire_after_s, old.close)
            self.metrics.model_info.labels(scorer.name, scorer.version, self.variant).set(1)
            logger.info("serving %s/%s as %s", scorer.name, scorer.version, self.variant)
            return scorer
