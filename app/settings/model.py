"""The model: which one the registry serves, how it is reloaded, how ONNX runs it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from app.settings.base import Scope

__all__ = ["ModelSettings"]


class ModelSettings(Scope):
    """The model registry, the served model and its inference threads."""

    model_dir: Path = Path("models")
    """Model registry root: ``<model_dir>/<name>/<version>/``."""

    model_name: str = "hybrid"
    """Which model in the registry to serve; its newest version is loaded. The default, the
    hybrid (SASRec, ItemSVD and EASE in one graph), is the most relevant committed model;
    ``itemsvd`` is the light option (a third of its model CPU per scored user)."""

    model_version: str | None = None
    """Serve this version only (pinned), also after a reload; unset: the newest that loads."""

    model_poll_s: float = Field(default=10.0, ge=0)
    """How often each worker looks in the registry for a newer complete version and hot-reloads
    it (not when MODEL_VERSION pins one); also when failed canary/shadow loads are retried.
    0 turns the polling off (reload by POST or the control topic only)."""

    model_retry_s: float = Field(default=5.0, gt=0)
    """While no model can be loaded the worker stays up, not ready, and retries this often."""

    onnx_threads: int = Field(default=1, ge=0)
    """onnxruntime intra-op threads per worker (0 = onnxruntime's own choice)."""

    api_models: int = Field(default=2, ge=0, le=64)
    """Versions the inference API holds besides the stream's model: any model and version in
    the registry can be asked for by name (and version); each is loaded on its first request
    and the least recently used is closed beyond this many. 0: the API answers with the
    stream's model only."""
