"""Domain errors at the web edge: the one table of their HTTP statuses, and the JSON error.

Domain errors (``app.errors``) and admin refusals (``app.rollout.admin.Denied``) carry no
HTTP codes; a handler answers one with ``from_error`` or ``denied``, which read the status
here (MLServer's ``rest/errors.py``). Every error body is ``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from app.errors import InvalidRequest, ModelLoadError, ModelNotFound, ModelNotReady, StreamrecError
from app.http import responses
from app.rollout.admin import Denied

__all__ = ["DENIED_STATUS", "STATUS", "denied", "error", "from_error", "status_of"]

STATUS: Mapping[type[StreamrecError], int] = {
    InvalidRequest: 400,  # the caller fixes its request
    ModelNotReady: 503,  # the worker is starting: retry
    # A reload or rollback that failed: the current model keeps serving.
    ModelNotFound: 409,
    ModelLoadError: 409,
}
"""Each domain error's status; a subclass has its nearest listed ancestor's, else 500."""

DENIED_STATUS: Mapping[str, int] = {"admin_disabled": 403}
"""An admin refusal's status by its reason: 403 when no token could help, else 401."""

_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="streamrec admin"'}


def status_of(exc: StreamrecError) -> int:
    """The HTTP status of a domain error (``STATUS``)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **more: object
) -> web.Response:
    """The JSON error every refusal answers with: ``{"error": message, **more}``."""
    return responses.json({"error": message, **more}, status, headers=headers)


def from_error(exc: StreamrecError, **more: Any) -> web.Response:
    """A domain error's answer: its status, its message."""
    return error(status_of(exc), str(exc), **more)


def denied(refusal: Denied) -> web.Response:
    """An admin refusal's answer; a 401 names the scheme to authenticate with."""
    status = DENIED_STATUS.get(refusal.reason, 401)
    return error(status, refusal.message, headers=_AUTHENTICATE if status == 401 else None)
