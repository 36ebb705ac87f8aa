"""The model registry on disk: ``<model_dir>/<name>/<version>/`` directories."""

from __future__ import annotations

import logging
from pathlib import Path

from app.errors import ModelLoadError, ModelNotFound
from app.inference.manifest import MANIFEST_FILE, read_manifest
from app.inference.scorer import OnnxScorer
from app.inference.two_tower import TwoTowerScorer
from app.settings.retrieval import RetrievalSettings

__all__ = ["ModelRegistry", "version_key"]

logger = logging.getLogger(__name__)


def version_key(version: str) -> tuple[int, int | str]:
    """Sort key: numeric versions by value, after any non-numeric ones."""
    return (1, int(version)) if version.isdigit() else (0, version)


class ModelRegistry:
    """Finds model versions and loads them; a version is complete once its manifest exists."""

    def __init__(self, root: Path, retrieval: RetrievalSettings | None = None) -> None:
        self.root = root
        self.retrieval = retrieval or RetrievalSettings()
        """How two-tower versions retrieve (their index is built or loaded by ``load``)."""

    def versions(self, name: str) -> list[str]:
        """Complete versions of ``name``, oldest first (temporary ``.tmp`` dirs are skipped)."""
        base = self.root / name
        if not base.is_dir():
            return []
        found = [
            d.name
            for d in base.iterdir()
            if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST_FILE).is_file()
        ]
        return sorted(found, key=version_key)

    def newest(self, name: str) -> str:
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(f"no versions of model {name!r} under {self.root}")
        return versions[-1]

    def load(self, name: str, version: str | None = None, *, threads: int = 1) -> OnnxScorer:
        """Load, check and warm up one version (the newest by default); a two-tower version's
        index is built (or read) here, so it is ready before the version takes traffic.
        Blocking, possibly for minutes: call it on a thread."""
        version = version or self.newest(name)
        path = self.root / name / version
        if not (path / MANIFEST_FILE).is_file():
            raise ModelNotFound(f"model {name!r} has no version {version!r} under {self.root}")
        scorer = (
            TwoTowerScorer(path, threads=threads, retrieval=self.retrieval)
            if read_manifest(path).retrieval is not None
            else OnnxScorer(path, threads=threads)
        )
        if (scorer.name, scorer.version) != (name, version):
            raise ModelLoadError(
                f"{path}: manifest says {scorer.name}/{scorer.version}, directory says "
                f"{name}/{version}"
            )
        scorer.warm_up()
        logger.info("loaded model %s/%s (%d items)", name, version, len(scorer.items) - 1)
        return scorer
