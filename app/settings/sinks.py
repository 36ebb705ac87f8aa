"""Sinks beyond the output topic: the Redis serving store of each user's latest update."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.settings.base import Scope, check_scheme

__all__ = ["REDIS_SCHEMES", "SinkSettings"]

REDIS_SCHEMES = ("redis", "rediss", "unix")


class SinkSettings(Scope):
    """The Redis serving store: where, under which keys, how long, and how strictly."""

    redis_sink_url: str | None = None
    """Also keep each user's latest update in this Redis (``redis://host:port/db``), for app
    servers to read: ``HGET <REDIS_SINK_PREFIX><user id> update``. Unset: off."""

    redis_sink_prefix: str = "streamrec:latest:"
    """Key prefix of the Redis serving store (one hash per user); one per deployment."""

    redis_sink_ttl_s: float = Field(default=7 * 86_400.0, ge=0)
    """How long a user's entry in the Redis serving store lives after its last update
    (0: for ever). Users who come back after it get an entry again with their next event."""

    redis_sink_required: bool = False
    """Deliver to the Redis serving store before a batch is acked, retrying while Redis is
    away (the stream waits for it). Off: best-effort, a failed write is counted in
    ``sink_errors_total{sink="redis"}`` and the user's next update fixes the entry."""

    redis_sink_timeout_s: float = Field(default=1.0, gt=0)
    """Longest one Redis serving-store call may take."""

    @field_validator("redis_sink_url")
    @classmethod
    def _check_redis_sink_url(cls, value: str | None) -> str | None:
        return check_scheme(value, REDIS_SCHEMES) if value else None
