"""Small network helpers shared by the tests, the bench and the demo: one copy of each."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request

__all__ = ["free_port", "http_get", "http_post", "metric_value", "scrape_metrics"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(
    url: str, timeout: float = 5.0, context: ssl.SSLContext | None = None
) -> tuple[int, bytes]:
    """(status, body) of a GET (``context``: the TLS one for https); connection errors give
    status 0."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def http_post(
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of a POST of JSON (urllib would say it is a form); an error
    status is an answer, not an exception."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def scrape_metrics(base_url: str) -> dict[str, float]:
    """Every sample of a worker's ``/metrics``: ``name{labels}`` -> value (empty if down)."""
    status, body = http_get(base_url + "/metrics")
    samples = {}
    if status == 200:
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
    return samples


def metric_value(base_url: str, prefix: str) -> float:
    """The sum of the samples whose ``name{labels}`` starts with ``prefix``."""
    return sum(v for k, v in scrape_metrics(base_url).items() if k.startswith(prefix))
