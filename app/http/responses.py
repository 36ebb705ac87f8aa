"""The JSON responses handlers answer with (msgspec-encoded, ``application/json``)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from aiohttp import web

__all__ = ["json", "raw_json"]

_encode = msgspec.json.Encoder().encode


def json(
    value: object,
    status: int = 200,
    *,
    charset: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``value`` as JSON."""
    return raw_json(_encode(value), status, charset=charset, headers=headers)


def raw_json(
    body: bytes,
    status: int = 200,
    *,
    charset: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A body that already is JSON (a stored recommendation update)."""
    return web.Response(
        body=body, status=status, content_type="application/json", charset=charset,
        headers=headers,
    )  # fmt: skip
