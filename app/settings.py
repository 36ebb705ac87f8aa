"""All configuration, read once from the environment (prefix ``STREAMREC_``).

Each field's docstring is the configuration reference; the README table mirrors it.
The names are a public contract: keep them stable.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

logger = logging.getLogger(__name__)


class Settings(BaseSettings):
    """streamrec settings; every field is ``STREAMREC_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMREC_", frozen=True, use_attribute_docstrings=True, extra="ignore"
    )

    app_id: str = "streamrec"
    """Faust app id: the consumer group and the prefix of the table changelog topics.
    One per deployment; workers with the same id share the work."""

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap URL(s), Faust style: ``kafka://host:port[;kafka://host2:port]``."""

    web_host: str = "127.0.0.1"
    """Host other workers reach this worker's web server at (views are forwarded there).
    In containers: the container's hostname."""

    web_bind: str = "127.0.0.1"
    """Interface the web server listens on (``0.0.0.0`` in containers)."""

    web_port: int = Field(default=6066, ge=1, le=65535)
    """Port of the worker's web server (views, health, metrics)."""

    input_topic: str = "interactions"
    """Topic of user interactions (key = user id, value = JSON)."""

    output_topic: str = "recommendations"
    """Topic the recommendation updates go to (key = user id, value = JSON)."""

    dlq_topic: str = "interactions.dlq"
    """Dead-letter topic: rejected input, original bytes, headers say why."""

    store: str = "rocksdb://"
    """Table store: ``rocksdb://`` (durable, default) or ``memory://``."""

    data_dir: Path = Path("var/data")
    """Where the worker keeps its table state (RocksDB files)."""

    model_dir: Path = Path("models")
    """Model registry root: ``<model_dir>/<name>/<version>/``."""

    model_name: str = "itemsvd"
    """Which model in the registry to serve; its newest version is loaded."""

    model_version: str | None = None
    """Serve this version only (pinned), also after a reload; unset: the newest that loads."""

    model_poll_s: float = Field(default=10.0, ge=0)
    """How often each worker looks in the registry for a newer complete version and hot-reloads
    it (not when MODEL_VERSION pins one); also when failed canary/shadow loads are retried.
    0 turns the polling off (reload by POST or the control topic only)."""

    canary: str | None = None
    """Canary rollout ``"<version>:<percent>"``, e.g. ``"2:20"``: that share of users is scored
    by that version, the rest by the main model. Users are picked by a hash of the user id
    and the canary version, so a user sees the same arm on every event, worker and restart,
    and raising the percent keeps the users already in. Outputs say their ``variant``."""

    shadow: str | None = None
    """Shadow version: every micro-batch is also scored by it and its updates go to
    OUTPUT_TOPIC + ``.shadow`` (variant ``shadow``); the main output is unaffected."""

    control_topic: str = "streamrec.control"
    """Topic every worker listens to for model commands (``{"model": name, "action":
    "reload" | "rollback"}``), so one message reloads or rolls back the whole deployment."""

    model_retry_s: float = Field(default=5.0, gt=0)
    """While no model can be loaded the worker stays up, not ready, and retries this often."""

    top_k: int = Field(default=10, ge=1, le=1000)
    """How many items each recommendation update carries."""

    max_batch: int = Field(default=500, ge=1, le=100_000)
    """Most events scored in one micro-batch (one ``session.run``)."""

    max_wait_ms: float = Field(default=5.0, gt=0, le=60_000)
    """How long the agent waits for a micro-batch to fill before scoring what it has. Faust
    starts this wait after each batch, so it adds up to this much to every event's latency."""

    coalesce: bool = False
    """One update per user per micro-batch (for its latest event) instead of one per event.
    Off by default: the output contract is one update per event."""

    partitions: int = Field(default=8, ge=1, le=10_000)
    """Partitions of the topics and tables streamrec creates (the scaling unit)."""

    session_timeout_s: float = Field(default=10.0, gt=0)
    """Consumer group session timeout (the embedded broker's first join waits half of it)."""

    fetch_max_wait_ms: int = Field(default=10, ge=0, le=60_000)
    """Longest a consumer fetch waits for data. Faust's 1500 ms is harmless on Kafka (it answers
    as soon as data arrives) but the embedded broker holds fetches for part of it."""

    batch_retries: int = Field(default=2, ge=0, le=10)
    """Times a micro-batch whose processing raised is tried again (after 0.5 s, 1 s, ...)
    before its events go to the dead-letter topic as ``processing_error``."""

    stall_timeout_s: float = Field(default=60.0, gt=0)
    """/health/live turns 503 once one micro-batch has been in progress this long (stuck)."""

    onnx_threads: int = Field(default=1, ge=0)
    """onnxruntime intra-op threads per worker (0 = onnxruntime's own choice)."""

    max_message_bytes: int = Field(default=65_536, ge=256)
    """Input values larger than this go to the dead-letter topic unread."""

    max_future_skew_s: float = Field(default=86_400.0, ge=0)
    """An event timestamp further than this in the future is rejected as malformed."""

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

    @field_validator("canary")
    @classmethod
    def _check_canary(cls, value: str | None) -> str | None:
        if value:
            version, sep, percent = value.rpartition(":")
            try:
                share = float(percent)
            except ValueError:
                share = -1.0
            if not (sep and version and 0 <= share <= 100):
                raise ValueError(f"canary {value!r} is not '<version>:<percent 0-100>'")
        return value or None

    @property
    def canary_split(self) -> tuple[str, float] | None:
        """(canary version, percent of users) or None."""
        if not self.canary:
            return None
        version, _, percent = self.canary.rpartition(":")
        return version, float(percent)

    @property
    def shadow_topic(self) -> str:
        return self.output_topic + ".shadow"

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` list for plain Kafka clients, from the Faust-style ``broker`` URL."""
        servers = []
        for part in self.broker.replace(",", ";").split(";"):
            part = part.strip()
            if part:
                servers.append(part.split("://", 1)[-1].rstrip("/"))
        return servers


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
