"""The models the inference API answers with: the stream's main model, and any other version
in the registry, loaded on first use.

A request names a model and optionally a version. The main model's name without a version, or
with the version it serves, is answered by the stream's own model (and its ranker, batching
with the stream's requests). Any other (name, version) in the registry is loaded on its first
request (the name alone: its newest version), held in a least-recently-used set of at most
STREAMREC_API_MODELS, and closed when pushed out. The stream's arms never change because of
a request.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from app.errors import ModelNotFound
from app.inference.cache import PredictionCache
from app.inference.cold_start import ColdStart
from app.inference.online import OnlineRanker
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.metrics import AppMetrics

__all__ = ["ApiModel", "ApiModels"]

VARIANT = "api"
"""The ``model_info`` label of versions loaded for the API alone."""


@dataclass(frozen=True)
class ApiModel:
    model: ServedModel
    ranker: OnlineRanker


class ApiModels:
    """(name, version) -> a loaded model and its ranker; at most ``held`` besides the main."""

    def __init__(
        self,
        main: ApiModel,
        registry: ModelRegistry,
        cache: PredictionCache,
        metrics: AppMetrics,
        *,
        held: int,
        max_batch: int,
        cold_start: ColdStart | None = None,
    ) -> None:
        self.main = main
        self.registry = registry
        self.cache = cache
        self.metrics = metrics
        self.held = held
        self.max_batch = max_batch
        self.cold_start = cold_start
        self._loaded: OrderedDict[tuple[str, str], ApiModel] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Task[ApiModel]] = {}

    def known(self, name: str, version: str | None) -> None:
        """ModelNotFound unless the registry holds ``name`` (and that version)."""
        versions = self.registry.versions(name)
        if not versions:
            raise ModelNotFound(f"unknown model {name!r}; this worker serves "
                                f"{self.main.model.name!r}")  # fmt: skip
        if version is not None and version not in versions:
            raise ModelNotFound(f"model {name!r} has no version {version!r}")

    async def get(self, name: str, version: str | None) -> ApiModel:
        """The model to answer a request for ``name`` (``version``: else the main's, or the
        newest); loads it if it is not held. ModelNotFound, ModelLoadError."""
        main = self.main.model
        serving = main.current.version if main.current is not None else None
        if name == main.name and version in (None, serving):
            return self.main
        self.known(name, version)
        key = (name, version or self.registry.newest(name))
        held = self._loaded.get(key)
        if held is not None:
            self._loaded.move_to_end(key)
            return held
        if self.held < 1:
            raise ModelNotFound(
                f"{name}/{key[1]} is not served here: the stream serves {main.name}/{serving} "
                "and STREAMREC_API_MODELS=0 holds no other version for the API"
            )
        loading = self._loading.get(key)
        if loading is None:  # one load per version, whoever asks meanwhile
            loading = self._loading[key] = asyncio.ensure_future(self._load(*key))
        try:
            return await asyncio.shield(loading)
        finally:
            if loading.done():
                self._loading.pop(key, None)

    async def _load(self, name: str, version: str) -> ApiModel:
        model = ServedModel(self.registry, name, self.metrics, version=version, variant=VARIANT)
        await model.load()
        found = ApiModel(model, OnlineRanker(model, self.cache, self.max_batch, self.cold_start))
        self._loaded[(name, version)] = found
        while len(self._loaded) > self.held:
            _, pushed_out = self._loaded.popitem(last=False)
            pushed_out.model.retire()  # closed once a request that picked it has finished
        return found

    def held_versions(self) -> list[str]:
        """``name/version`` of each version held for the API, least recently used first."""
        return [f"{name}/{version}" for name, version in self._loaded]
