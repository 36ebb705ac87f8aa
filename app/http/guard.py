"""The web server's edge: a malformed request gets a 4xx JSON error naming the problem.

aiohttp answers some refusals itself in text/plain (unknown path 404, wrong method 405, body
over the limit 413), and an exception a view did not expect becomes a 500 with a traceback in
the log. This middleware, on every route (streamrec's and Faust's own), turns each refusal into
``{"error": "..."}`` JSON, refuses what no view should have to look at (a path segment over
the limit or not UTF-8, a body that is not JSON, a body over the limit), and answers a request
the owning worker did not answer (forwarding) with 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_to_bytes

import aiohttp
from aiohttp import web

from app.http.errors import error

__all__ = ["Handler", "guard"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_BINARY_HEADER = "Inference-Header-Content-Length"


def guard(max_body_bytes: int, max_segment_bytes: int) -> Middleware:
    """The middleware for ``web_application_options["middlewares"]``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = _refusal(request, max_body_bytes, max_segment_bytes)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # redirects pass through
            headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
            return error(exc.status, _reason(exc, request, max_body_bytes), headers=headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Forwarding to the worker that owns the key (table views, OIP by user id).
            return error(503, f"the worker owning this request did not answer "
                              f"({type(exc).__name__}: {exc}); retry")  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return error(500, "internal error (logged by the worker)")

    return middleware


def _refusal(request: web.Request, max_body_bytes: int, max_segment: int) -> web.Response | None:
    """What is wrong with the request line and headers, before any view reads it."""
    raw = request.raw_path.split("?", 1)[0]
    for segment in raw.split("/"):
        decoded = unquote_to_bytes(segment)
        if len(decoded) > max_segment:
            return error(414, f"a path segment is {len(decoded)} bytes long; at most "
                              f"{max_segment} (STREAMREC_MAX_PATH_SEGMENT_BYTES)")  # fmt: skip
        try:
            decoded.decode()
        except UnicodeDecodeError:
            return error(400, f"path segment {segment[:64]!r} is not UTF-8 once decoded")
    if request.content_length is not None and request.content_length > max_body_bytes:
        return error(413, f"the body is {request.content_length} bytes; at most "
                          f"{max_body_bytes} (STREAMREC_MAX_REQUEST_BYTES)")  # fmt: skip
    # No Content-Type at all is taken as JSON (``curl -X POST`` sends none); binary data
    # after a JSON header (the inference API's binary extension, which says where the JSON
    # ends) may also come as application/octet-stream.
    declared = request.body_exists and "Content-Type" in request.headers
    accepted = ("application/json", *(
        ("application/octet-stream",) if _BINARY_HEADER in request.headers else ()
    ))  # fmt: skip
    if request.method in _BODY_METHODS and declared and request.content_type not in accepted:
        return error(415, f"Content-Type {request.content_type!r} is not accepted; send "
                          "'Content-Type: application/json'")  # fmt: skip
    return None


def _reason(exc: web.HTTPException, request: web.Request, max_body_bytes: int) -> str:
    if exc.status == 404:
        return f"no such endpoint: {request.path[:200]!r} (docs/api/index.md lists them)"
    if exc.status == 405:
        return f"{request.method} is not allowed here; allowed: {exc.headers.get('Allow', '')}"
    if exc.status == 413:
        return f"the body is over {max_body_bytes} bytes (STREAMREC_MAX_REQUEST_BYTES)"
    return exc.reason
