"""TLS of the worker's web and gRPC servers (STREAMREC_WEB_TLS_*): one certificate for both,
loaded again when its files change, and the client side workers and the CLI check each
other's certificates with."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import aiohttp

from app.errors import CannotStart
from app.settings import Settings

__all__ = ["WebTls", "web_tls"]

logger = logging.getLogger(__name__)


class WebTls:
    """The servers' certificate and key (None: plaintext) and the context clients verify with.

    The server context is one object for the worker's life: a renewed certificate is loaded
    into it (``reload``), so new handshakes present it with no restart; ``generation`` counts
    the loads, for the gRPC server to pick the pair up on its next handshake.
    """

    def __init__(self, certfile: Path | None, keyfile: Path | None, cafile: Path | None) -> None:
        self.certfile, self.keyfile, self.cafile = certfile, keyfile, cafile
        self.server: ssl.SSLContext | None = None
        self.pair = (b"", b"")
        """(private key, certificate chain) as last loaded, as gRPC takes them."""
        self.generation = 0
        self._loaded: tuple[int, ...] | None = None
        if certfile is not None:
            self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.server.minimum_version = ssl.TLSVersion.TLSv1_2
            self._load()
        self.client: ssl.SSLContext | bool = True
        """What aiohttp connects to a worker with: a context checking its certificate against
        WEB_TLS_CAFILE (or the system CAs); True, aiohttp's default, for plaintext."""
        if self.on:
            self.client = ssl.create_default_context(cafile=str(cafile) if cafile else None)

    @property
    def on(self) -> bool:
        return self.certfile is not None

    @property
    def scheme(self) -> str:
        return "https" if self.on else "http"

    def url(self, host: str, port: int) -> str:
        """The web server's URL at ``host``:``port``."""
        return f"{self.scheme}://{host}:{port}"

    def connector(self) -> aiohttp.TCPConnector:
        """A connector for one client session (created in the running loop)."""
        return aiohttp.TCPConnector(ssl=self.client)

    def reload(self) -> bool:
        """Load the certificate and key again if their files changed since the last load (a
        Secret renewed in place); whether it did. A pair that does not load (half written, a
        key of another certificate) is logged and the one in use kept."""
        if self.server is None:
            return False
        try:
            if self._signature() == self._loaded:
                return False
            # Checked on a throwaway context first: a failed load can leave a context half
            # changed, and this one serves every new connection.
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                self._cert, self._key
            )
            self._load()
        except (ssl.SSLError, OSError) as exc:
            logger.warning("STREAMREC_WEB_TLS_CERTFILE / KEYFILE changed but do not load (%s): "
                           "still serving the certificate loaded before", exc)  # fmt: skip
            return False
        logger.info("loaded the renewed web TLS certificate %s", self.certfile)
        return True

    @property
    def _cert(self) -> Path:
        assert self.certfile is not None
        return self.certfile

    @property
    def _key(self) -> Path:
        assert self.keyfile is not None
        return self.keyfile

    def _signature(self) -> tuple[int, ...]:
        # A Kubernetes Secret volume swaps a symlink: stat follows it to the new files.
        stats = [os.stat(self._cert), os.stat(self._key)]
        return tuple(v for s in stats for v in (s.st_ino, s.st_mtime_ns, s.st_size))

    def _load(self) -> None:
        assert self.server is not None
        signature = self._signature()
        self.server.load_cert_chain(self._cert, self._key)
        self.pair = (self._key.read_bytes(), self._cert.read_bytes())
        self._loaded = signature
        self.generation += 1


def web_tls(settings: Settings) -> WebTls:
    """The servers' TLS from ``settings``, its files checked now: a certificate that does not
    load or does not match its key stops the worker with one line, not at the first request."""
    try:
        return WebTls(settings.web_tls_certfile, settings.web_tls_keyfile, settings.web_tls_cafile)
    except (ssl.SSLError, OSError) as exc:
        raise CannotStart(
            f"STREAMREC_WEB_TLS_CERTFILE / KEYFILE / CAFILE do not load ({exc}): point them at "
            "a PEM certificate chain, its unencrypted private key and a PEM CA bundle"
        ) from exc
