"""The prediction cache: its backend, how long answers are kept, whether the stream uses it."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.settings.base import Scope, check_scheme

__all__ = ["CACHE_SCHEMES", "CacheSettings"]

CACHE_SCHEMES = ("memory", "redis")


class CacheSettings(Scope):
    """Where predictions are cached and for how long."""

    cache_url: str = "memory://"
    """Prediction cache (aiocache): ``memory://`` per worker, or ``redis://host:port/db``
    shared by all workers. Keys hold the model version and a hash of the inputs."""

    cache_ttl_s: float = Field(default=10.0, gt=0)
    """How long a cached prediction is kept. It bounds the memory backend to about
    (events per second x TTL) entries of ~600 bytes: 80k at 8k events/s. Longer with Redis."""

    cache_timeout_s: float = Field(default=0.05, gt=0)
    """Longest one cache call may take; a slower or failing backend counts as a miss."""

    cache_in_stream: bool = False
    """Also look micro-batch rows up in the cache and store their answers. Off by default: in
    a forward stream every event changes its user's inputs, so lookups almost never hit, and
    the calls cost ~10% of throughput. On to fill a shared (Redis) cache for other readers,
    or to answer replays after a restart from it."""

    @field_validator("cache_url")
    @classmethod
    def _check_cache_url(cls, value: str) -> str:
        return check_scheme(value, CACHE_SCHEMES)
