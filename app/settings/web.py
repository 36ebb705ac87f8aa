"""The worker's web server: where it listens, its TLS, what requests it reads, how long it
forwards."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from app.settings.base import ENV_PREFIX, Scope, readable

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

    web_tls_certfile: Path | None = None
    """Certificate chain, PEM, of the web server and the gRPC server. With WEB_TLS_KEYFILE both
    serve TLS only (https; gRPC over TLS) and workers forward to each other over https, so it
    must name every worker's WEB_HOST (a wildcard for the headless Service does). Unset: both
    serve plaintext."""

    web_tls_keyfile: Path | None = None
    """Private key of WEB_TLS_CERTFILE, PEM, unencrypted (mount it from a Secret)."""

    web_tls_cafile: Path | None = None
    """PEM bundle of the CA(s) that signed the workers' certificates, which a worker checks
    when it forwards a request to another (and the CLI when it asks a worker). Unset: the
    system's trusted CAs."""

    web_tls_reload_s: float = Field(default=60.0, gt=0)
    """How often a worker looks for a renewed WEB_TLS_CERTFILE / KEYFILE (cert-manager
    renews a Secret in place): a changed pair serves new connections of both servers, with no
    restart; one that does not load is logged and the old one kept."""

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest HTTP request body the web server reads (413 JSON beyond it)."""

    max_path_segment_bytes: int = Field(default=1024, ge=64)
    """Longest segment of a request path, percent-decoded (414 JSON beyond it). Any valid user
    or item id (256 characters) fits in the default."""

    forward_timeout_s: float = Field(default=5.0, gt=0)
    """How long a worker waits for the worker owning a user to answer a request it forwards
    (per-user views, inference by user id); then 503 JSON, to be retried."""

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        if problems := _tls_problems(self):
            raise ValueError("; ".join(problems))
        return self


def _tls_problems(s: WebSettings) -> list[str]:
    """What is inconsistent in the WEB_TLS_* settings, each saying what to change."""
    w = ENV_PREFIX + "WEB_TLS_"
    files = {"CERTFILE": s.web_tls_certfile, "KEYFILE": s.web_tls_keyfile,
             "CAFILE": s.web_tls_cafile}  # fmt: skip
    out = []
    if (s.web_tls_certfile is None) != (s.web_tls_keyfile is None):
        out.append(f"{w}CERTFILE and {w}KEYFILE go together: set both (TLS) or neither")
    elif s.web_tls_certfile is None and s.web_tls_cafile is not None:
        out.append(f"{w}CAFILE set without {w}CERTFILE: the servers are plaintext; set "
                   f"{w}CERTFILE and {w}KEYFILE, or unset it")  # fmt: skip
    for name, path in files.items():
        if path is not None and not readable(path):
            out.append(f"{w}{name}={str(path)!r} cannot be read: point it at a readable file")
    return out
