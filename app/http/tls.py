"""TLS of the worker's web and gRPC servers (STREAMREC_WEB_TLS_*): one certificate for both,
and the client side workers and the CLI check each other's certificates with."""

from __future__ import annotations

import functools
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from app.errors import CannotStart
from app.settings import Settings

__all__ = ["WebTls", "web_tls"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebTls:
    """The servers' certificate and key (None: plaintext) and the context clients verify with."""

    certfile: Path | None
    keyfile: Path | None
    cafile: Path | None

    @property
    def on(self) -> bool:
        return self.certfile is not None

    @property
    def scheme(self) -> str:
        return "https" if self.on else "http"

    def url(self, host: str, port: int) -> str:
        """The web server's URL at ``host``:``port``."""
        return f"{self.scheme}://{host}:{port}"

    @functools.cached_property
    def server(self) -> ssl.SSLContext | None:
        """The web server's context: TLS 1.2 or later, Python's default ciphers."""
        if self.certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certfile, self.keyfile)
        return context

    @functools.cached_property
    def client(self) -> ssl.SSLContext | bool:
        """What aiohttp connects to a worker with: a context checking its certificate against
        WEB_TLS_CAFILE (or the system CAs); True, aiohttp's default, for plaintext."""
        if not self.on:
            return True
        return ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)

    def connector(self) -> aiohttp.TCPConnector:
        """A connector for one client session (created in the running loop)."""
        return aiohttp.TCPConnector(ssl=self.client)

    def key_pair(self) -> tuple[bytes, bytes]:
        """(private key, certificate chain) as gRPC's server credentials take them."""
        assert self.certfile is not None and self.keyfile is not None
        return self.keyfile.read_bytes(), self.certfile.read_bytes()


def web_tls(settings: Settings) -> WebTls:
    """The servers' TLS from ``settings``, its files checked now: a certificate that does not
    load or does not match its key stops the worker with one line, not at the first request."""
    tls = WebTls(settings.web_tls_certfile, settings.web_tls_keyfile, settings.web_tls_cafile)
    try:
        tls.server  # noqa: B018  # builds (and caches) the context: the check
        tls.client  # noqa: B018
    except (ssl.SSLError, OSError) as exc:
        raise CannotStart(
            f"STREAMREC_WEB_TLS_CERTFILE / KEYFILE / CAFILE do not load ({exc}): point them at "
            "a PEM certificate chain, its unencrypted private key and a PEM CA bundle"
        ) from exc
    return tls
