"""Admin authentication: who may change what a deployment serves.

One shared secret, ``STREAMREC_ADMIN_TOKEN`` (or a file: ``STREAMREC_ADMIN_TOKEN_FILE``, for
Kubernetes secrets). State-changing HTTP endpoints take ``Authorization: Bearer <token>``;
control-topic commands carry an HMAC-SHA256 of their content and a timestamp under it. No
token configured: admin is disabled, so nothing can change what is served from outside.
Pure code: no Faust, no Kafka; the views and the control listener call it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

__all__ = ["ENABLE_HINT", "AdminAuth", "Denied"]


ENABLE_HINT = (
    "admin is disabled: set STREAMREC_ADMIN_TOKEN (or STREAMREC_ADMIN_TOKEN_FILE) on the "
    "workers and send it as 'Authorization: Bearer <token>'"
)


@dataclass(frozen=True)
class Denied:
    """Why a request or command is refused: a reason (a metric label) and a message for the
    sender; the web edge gives it its HTTP status (``app.http.errors``)."""

    reason: str
    message: str


class AdminAuth:
    """Checks bearer tokens and signs / verifies control commands."""

    def __init__(self, token: str | None, max_age_s: float = 300.0) -> None:
        self._key = token.encode() if token else None
        self.max_age_s = max_age_s

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def check_bearer(self, authorization: str | None) -> Denied | None:
        """None if ``authorization`` (the header's value) carries the token."""
        if self._key is None:
            return Denied("admin_disabled", ENABLE_HINT)
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Denied("missing", "this endpoint needs 'Authorization: Bearer <token>'")
        # Constant time: how much of a guess matched must not show in how long the answer took.
        # A header aiohttp could only decode with surrogates is a wrong token, not an error.
        if not hmac.compare_digest(given.strip().encode(errors="replace"), self._key):
            return Denied("wrong", "wrong admin token")
        return None

    def sign(self, content: bytes, ts: float) -> str:
        """Hex HMAC-SHA256 of ``content`` stamped ``ts`` (unix seconds)."""
        if self._key is None:
            raise ValueError(ENABLE_HINT)
        return hmac.new(self._key, _signed(content, ts), hashlib.sha256).hexdigest()

    def verify(
        self, content: bytes, ts: float | None, signature: str, now: float, check_age: bool = True
    ) -> Denied | None:
        """None if ``signature`` is this token's over ``content`` and ``ts`` is recent
        (``check_age`` False: a command read back from the topic's history)."""
        if self._key is None:
            return Denied("admin_disabled", ENABLE_HINT)
        if not signature or ts is None:
            return Denied("unsigned", "the command carries no signature")
        if not hmac.compare_digest(signature.encode(), self.sign(content, ts).encode()):
            return Denied("bad_signature", "the signature does not match the admin token")
        if check_age and abs(now - ts) > self.max_age_s:
            age = f"{now - ts:.0f} s"
            return Denied("stale", f"the command is {age} old (at most {self.max_age_s:g})")
        return None


def _signed(content: bytes, ts: float) -> bytes:
    return f"{ts:.3f}\n".encode() + content
