"""The worker's web server: where it listens, what requests it reads, how long it forwards."""

from __future__ import annotations

from pydantic import Field

from app.settings.base import Scope

__all__ = ["WebSettings"]


class WebSettings(Scope):
    """Addresses of the web server and the limits of its requests."""

    web_host: str = "127.0.0.1"
    """Host other workers reach this worker's web server at (views are forwarded there).
    In containers: the container's hostname."""

    web_bind: str = "127.0.0.1"
    """Interface the web server listens on (``0.0.0.0`` in containers)."""

    web_port: int = Field(default=6066, ge=1, le=65535)
    """Port of the worker's web server (views, health, metrics)."""

    grpc_port: int = Field(default=0, ge=0, le=65535)
    """Port of the Open Inference Protocol over gRPC (on WEB_BIND, beside the web server's
    REST inference API); 0 or unset: off."""

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest HTTP request body the web server reads (413 JSON beyond it)."""

    max_path_segment_bytes: int = Field(default=1024, ge=64)
    """Longest segment of a request path, percent-decoded (414 JSON beyond it). Any valid user
    or item id (256 characters) fits in the default."""

    forward_timeout_s: float = Field(default=5.0, gt=0)
    """How long a worker waits for the worker owning a user to answer a request it forwards
    (per-user views, inference by user id); then 503 JSON, to be retried."""
