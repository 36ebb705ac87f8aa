"""All configuration, read once from the environment (prefix ``STREAMREC_``).

Each field's docstring is the configuration reference; the README table mirrors it.
The names are a public contract: keep them stable.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import InvalidSettings, RolloutRefused
from app.kafka.brokers import Brokers, Protocol, SaslMechanism
from app.kafka.partitioners import KeyPartitioner, PartitionerName
from app.rollout.state import parse_canary

__all__ = ["ENV_PREFIX", "Settings", "get_settings", "load_settings"]

logger = logging.getLogger(__name__)

ENV_PREFIX = "STREAMREC_"
# Table stores and cache backends streamrec can run on, by URL scheme.
STORE_SCHEMES = ("rocksdb", "memory")
CACHE_SCHEMES = ("memory", "redis")
BROKER_SCHEMES = ("kafka", "aiokafka")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Never echoed back, not even in an error about them.
SECRET_FIELDS = frozenset({"admin_token", "kafka_sasl_password", "kafka_ssl_key_password"})


class Settings(BaseSettings):
    """streamrec settings; every field is ``STREAMREC_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, use_attribute_docstrings=True, extra="ignore"
    )

    app_id: str = "streamrec"
    """Faust app id: the consumer group and the prefix of the table changelog topics.
    One per deployment; workers with the same id share the work."""

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap URL(s), Faust style: ``kafka://host:port[;kafka://host2:port]``."""

    broker_wait_s: float = Field(default=30.0, ge=0)
    """How long a starting worker waits for a broker of BROKER to answer before it exits
    with code 1 (an orchestrator restarts it); it says which URL it tried. 0: no wait."""

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest HTTP request body the web server reads (413 JSON beyond it)."""

    max_path_segment_bytes: int = Field(default=1024, ge=64)
    """Longest segment of a request path, percent-decoded (414 JSON beyond it). Any valid user
    or item id (256 characters) fits in the default."""

    forward_timeout_s: float = Field(default=5.0, gt=0)
    """How long a worker waits for the worker owning a user to answer a request it forwards
    (per-user views, inference by user id); then 503 JSON, to be retried."""

    kafka_security_protocol: Protocol = "PLAINTEXT"
    """How every Kafka client connects: ``PLAINTEXT``, ``SSL`` (TLS), ``SASL_PLAINTEXT`` or
    ``SASL_SSL`` (login over TLS: what MSK, Confluent Cloud, Aiven and Strimzi with auth use).
    Applies to Faust's clients and to every client streamrec creates (control topic, replay,
    bench, verify)."""

    kafka_sasl_mechanism: SaslMechanism | None = None
    """SASL mechanism with a SASL_* protocol: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``."""

    kafka_sasl_username: str | None = None
    """SASL user name (with a SASL_* protocol)."""

    kafka_sasl_password: SecretStr | None = None
    """SASL password; never logged or shown (errors print ``***``)."""

    kafka_sasl_password_file: Path | None = None
    """A file holding KAFKA_SASL_PASSWORD (a mounted secret); set one of the two."""

    kafka_ssl_cafile: Path | None = None
    """PEM bundle of the CA(s) that signed the brokers' certificates (SSL, SASL_SSL). Unset:
    the system's trusted CAs (enough for the managed services)."""

    kafka_ssl_certfile: Path | None = None
    """Client certificate, PEM, for brokers that require mutual TLS (with KAFKA_SSL_KEYFILE)."""

    kafka_ssl_keyfile: Path | None = None
    """Private key of KAFKA_SSL_CERTFILE, PEM."""

    kafka_ssl_key_password: SecretStr | None = None
    """Passphrase of an encrypted KAFKA_SSL_KEYFILE."""

    kafka_ssl_check_hostname: bool = True
    """Check that the broker's certificate names the host connected to. The chain is verified
    either way; turn this off only for a lab broker whose certificate lacks the name."""

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

    key_partitioner: PartitionerName = "murmur2"
    """How the producers of the input topic pick a partition from the key (the user id):
    ``murmur2`` (the Java client, aiokafka, kafka-python), ``crc32`` (librdkafka's default:
    confluent-kafka, node-rdkafka; alias ``consistent``), ``fnv1a`` (Go's sarama). Views and
    forwarding look users up with it, and streamrec produces with it. Records that arrive on
    another partition (other producers, round-robin) are moved to theirs, so any setting works;
    the right one saves the move."""

    store: str = "rocksdb://"
    """Table store: ``rocksdb://`` (durable, default) or ``memory://``."""

    data_dir: Path = Path("var/data")
    """Where the worker keeps its table state (RocksDB files)."""

    rocksdb_write_buffer_mb: int = Field(default=16, ge=1, le=1024)
    """RocksDB memtable size, per table and partition (two of them at most). Faust's 64 MB
    (three) holds up to 192 MB for each of a worker's partitions of each table, standbys
    included, before anything is flushed: with 8 partitions that is 3 GiB."""

    rocksdb_block_cache_mb: int = Field(default=64, ge=1, le=65_536)
    """RocksDB read cache, per table and partition (Faust's default: 2 GiB each)."""

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

    control_topic: str = ""
    """Topic every worker listens to for model commands (``{"model": name, "action":
    "reload" | "rollback" | "canary" | "promote" | "abort", "arg", "ts": unix seconds, "sig":
    HMAC}``), so one message changes the whole deployment; the rollout commands on it are the
    deployment's rollout state, which workers read back when they start. Default
    ``<APP_ID>.control``: one per deployment, so a rollout never reaches another deployment
    on the same cluster. Only commands signed with ADMIN_TOKEN are obeyed."""

    auto_rollout: bool = False
    """Automatic rollout: a new version appearing in the registry is canaried at
    AUTO_CANARY_PERCENT, and a controller (on the worker holding the input topic's partition
    0: one per deployment) promotes or rolls it back on the arms' live prequential HR@K
    summed over all workers (a sequential test, see Model rollout). Needs ADMIN_TOKEN: its
    decisions are signed control commands."""

    auto_canary_percent: float = Field(default=10.0, gt=0, le=100)
    """Share of users a new version gets while the automatic rollout judges it."""

    auto_min_events: int = Field(default=1000, ge=1)
    """Judged events each arm needs before the automatic rollout's test may decide."""

    auto_alpha: float = Field(default=0.05, gt=0, lt=1)
    """The test's error rate: a canary no better than main is promoted (or one no worse rolled
    back) with at most this probability, however long it runs."""

    auto_max_call_ratio: float = Field(default=3.0, gt=1)
    """Guardrail: a canary whose model-call time per update exceeds this many times the main
    arm's is rolled back (as is one whose model calls fail more than 1% of the time)."""

    auto_check_s: float = Field(default=5.0, gt=0)
    """How often workers report their arms' figures and the controller looks at them."""

    admin_token: SecretStr | None = None
    """Shared secret for everything that changes what is served: HTTP ``POST /models/...``
    needs ``Authorization: Bearer <token>``, control-topic commands an HMAC under it. Unset
    (and no ADMIN_TOKEN_FILE): admin is disabled (403; control commands ignored)."""

    admin_token_file: Path | None = None
    """A file holding ADMIN_TOKEN (a mounted Kubernetes secret); surrounding whitespace is
    ignored. Set one of the two, not both."""

    control_max_age_s: float = Field(default=300.0, gt=0)
    """A signed control command older (or further in the future) than this is ignored: a
    recorded command cannot be replayed later. Keep workers' clocks in sync (NTP)."""

    model_retry_s: float = Field(default=5.0, gt=0)
    """While no model can be loaded the worker stays up, not ready, and retries this often."""

    top_k: int = Field(default=10, ge=1, le=1000)
    """How many items each recommendation update carries."""

    max_batch: int = Field(default=500, ge=1, le=100_000)
    """Most events scored in one micro-batch (one ``session.run``)."""

    max_wait_ms: float = Field(default=5.0, gt=0, le=60_000)
    """How long a micro-batch waits, from its first record, to fill before what it has is
    scored: it adds up to this much to an event's latency (none once MAX_BATCH are there)."""

    coalesce: bool = False
    """One update per user per micro-batch (for its latest event) instead of one per event.
    Off by default: the output contract is one update per event."""

    degrade_lag_s: float = Field(default=0.0, ge=0)
    """Lag-aware degradation, 0 = off: while the oldest event of a batch has waited longer
    than this (from its Kafka timestamp), each user gets one update per batch (for their
    newest event; every event still updates the state), the shadow arm and the prediction
    cache are skipped, and ``streamrec_degraded`` is 1; back to normal under half of it."""

    trending: bool = False
    """Count interactions per item in hopping event-time windows (repartitioned by item) and
    serve the merged top items at ``GET /trending/``; cold-start users get them. Off by
    default: a fifth to a third more CPU per event, and wider latency tails in bursts (see the
    README's Trending items)."""

    trending_window_s: int = Field(default=3600, ge=1)
    """Size of a trending window, in event time (the interactions' ``ts``)."""

    trending_step_s: int = Field(default=600, ge=1)
    """How far apart trending windows start (hopping windows; the size is a multiple of it)."""

    trending_retention_s: int = Field(default=21_600, ge=1)
    """How long (event time, behind the newest event) a trending window is kept and shown."""

    trending_grace_s: float = Field(default=600.0, ge=0)
    """How late an event may come (event time, behind the newest its partition has seen) and
    still be counted; later ones are counted in ``streamrec_trending_late_total`` only."""

    trending_top_n: int = Field(default=100, ge=1, le=10_000)
    """How many items per window each worker publishes (the most ``/trending/`` can show)."""

    trending_publish_s: float = Field(default=2.0, gt=0)
    """How often each worker publishes its partitions' top items (every worker merges them)."""

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

    shutdown_timeout_s: float = Field(default=20.0, ge=2.0, le=600.0)
    """After SIGTERM, the longest a worker takes to exit: the batches in progress (one scored,
    one delivered) get half of it to finish (else they are abandoned, not committed), then it
    commits and leaves the group;
    past it, it exits with code 1. Below Kubernetes' default 30 s grace period."""

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

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        parts = [p.strip() for p in value.replace(",", ";").split(";") if p.strip()]
        allowed = "kafka://host:port, several separated by ';'"
        if not parts:
            raise ValueError(f"no broker URL given; allowed: {allowed}")
        for part in parts:
            scheme, sep, address = part.partition("://")
            host, port = _split_address(address.rstrip("/"))
            if not sep or scheme not in BROKER_SCHEMES or not host or not port.isdigit():
                raise ValueError(f"{part!r} is not a broker URL; allowed: {allowed}")
        return value

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        return _check_scheme(value, STORE_SCHEMES)

    @field_validator("cache_url")
    @classmethod
    def _check_cache_url(cls, value: str) -> str:
        return _check_scheme(value, CACHE_SCHEMES)

    @field_validator("redis_sink_url")
    @classmethod
    def _check_redis_sink_url(cls, value: str | None) -> str | None:
        return _check_scheme(value, REDIS_SCHEMES) if value else None

    @field_validator("key_partitioner", mode="before")
    @classmethod
    def _partitioner_alias(cls, value: object) -> object:
        # librdkafka's names for the same functions
        aliases = {"consistent": "crc32", "consistent_random": "crc32",
                   "murmur2_random": "murmur2", "fnv1a_random": "fnv1a"}  # fmt: skip
        if isinstance(value, str):
            value = value.strip().lower()
            return aliases.get(value, value)
        return value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        # librdkafka and the Java client take "sasl_ssl" as well as "SASL_SSL"
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("admin_token")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("empty; allowed: a non-empty secret, or leave it unset")
        return value

    @field_validator("admin_token_file")
    @classmethod
    def _check_admin_token_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                token = value.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read it ({exc.strerror}); allowed: a readable "
                                 "file holding the admin token") from None  # fmt: skip
            if not token:
                raise ValueError("the file is empty; allowed: a file holding the admin token")
        return value

    @model_validator(mode="before")
    @classmethod
    def _control_topic_of_the_app(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("control_topic"):
            data["control_topic"] = f"{data.get('app_id') or 'streamrec'}.control"
        return data

    @model_validator(mode="after")
    def _auto_rollout_signs(self) -> Settings:
        if self.auto_rollout and self.admin_token is None and self.admin_token_file is None:
            raise ValueError("STREAMREC_AUTO_ROLLOUT=true needs STREAMREC_ADMIN_TOKEN (or "
                             "STREAMREC_ADMIN_TOKEN_FILE): its decisions are signed")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _trending_windows(self) -> Settings:
        if self.trending_window_s % self.trending_step_s:
            raise ValueError(
                f"{ENV_PREFIX}TRENDING_WINDOW_S={self.trending_window_s} is not a multiple of "
                f"{ENV_PREFIX}TRENDING_STEP_S={self.trending_step_s}: make it one"
            )
        if self.trending_retention_s < self.trending_window_s:
            raise ValueError(
                f"{ENV_PREFIX}TRENDING_RETENTION_S={self.trending_retention_s} is shorter than "
                f"{ENV_PREFIX}TRENDING_WINDOW_S={self.trending_window_s}: keep at least a window"
            )
        return self

    @model_validator(mode="after")
    def _one_admin_token(self) -> Settings:
        if self.admin_token is not None and self.admin_token_file is not None:
            raise ValueError("STREAMREC_ADMIN_TOKEN and STREAMREC_ADMIN_TOKEN_FILE are both set; "
                             "allowed: one of them")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        if problems := _kafka_security_problems(self):
            raise ValueError("; ".join(problems))
        plain = (self.kafka_security_protocol, self.kafka_sasl_mechanism)
        if plain == ("SASL_PLAINTEXT", "PLAIN"):
            logger.warning("STREAMREC_KAFKA_SASL_MECHANISM=PLAIN over SASL_PLAINTEXT sends the "
                           "password in clear text: use SASL_SSL")  # fmt: skip
        return self

    @property
    def kafka_sasl_secret(self) -> str | None:
        """The SASL password (from KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE)."""
        if self.kafka_sasl_password is not None:
            return self.kafka_sasl_password.get_secret_value()
        if self.kafka_sasl_password_file is not None:
            return self.kafka_sasl_password_file.read_text().strip()
        return None

    @property
    def admin_secret(self) -> str | None:
        """The admin token (from ADMIN_TOKEN or ADMIN_TOKEN_FILE), or None: admin disabled."""
        if self.admin_token is not None:
            return self.admin_token.get_secret_value().strip()
        if self.admin_token_file is not None:
            return self.admin_token_file.read_text().strip()
        return None

    @field_validator("canary")
    @classmethod
    def _check_canary(cls, value: str | None) -> str | None:
        if value:
            try:
                parse_canary(value)
            except RolloutRefused as exc:
                raise ValueError(str(exc)) from None
        return value or None

    @property
    def canary_split(self) -> tuple[str, float] | None:
        """(canary version, percent of users) or None."""
        if not self.canary:
            return None
        return parse_canary(self.canary)

    @property
    def evidence_topic(self) -> str:
        """Where workers report their arms' live figures for the automatic rollout."""
        return self.control_topic + ".evidence"

    @property
    def shadow_topic(self) -> str:
        return self.output_topic + ".shadow"

    @property
    def by_item_topic(self) -> str:
        """The interactions repartitioned by item (Faust's group_by name for it)."""
        return f"{self.app_id}-{self.input_topic}-item_id-repartition"

    @property
    def trending_topic(self) -> str:
        """Each worker's top items per window, which every worker merges."""
        return f"{self.app_id}-trending"

    @property
    def broker_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each bootstrap server."""
        out = []
        for server in self.bootstrap_servers:
            host, port = _split_address(server)
            out.append((host.strip("[]"), int(port)))
        return out

    @property
    def partitioner(self) -> KeyPartitioner:
        """KEY_PARTITIONER as a function (and as aiokafka's and Faust's partitioner)."""
        return KeyPartitioner(self.key_partitioner)

    @property
    def store_options(self) -> dict[str, int]:
        """A table store's options (a new dict: Faust's store consumes it)."""
        mb = 1 << 20
        return {
            "write_buffer_size": self.rocksdb_write_buffer_mb * mb,
            "max_write_buffer_number": 2,
            "block_cache_size": self.rocksdb_block_cache_mb * mb,
        }

    @property
    def brokers(self) -> Brokers:
        """The bootstrap servers with the KAFKA_* security: every Kafka client is built from it."""
        return Brokers.from_settings(self)

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` list for plain Kafka clients, from the Faust-style ``broker`` URL."""
        servers = []
        for part in self.broker.replace(",", ";").split(";"):
            part = part.strip()
            if part:
                servers.append(part.split("://", 1)[-1].rstrip("/"))
        return servers


def _split_address(address: str) -> tuple[str, str]:
    """(host, port) of ``host[:port]`` or ``[v6]:port``; Kafka's port 9092 when none is given."""
    host, colon, port = address.rpartition(":")
    if not colon or host.count("[") != host.count("]") or address.endswith("]"):
        return address, "9092"
    return host, port


def _kafka_security_problems(s: Settings) -> list[str]:
    """What is inconsistent in the KAFKA_* settings, each saying what to change."""
    k = ENV_PREFIX + "KAFKA_"
    uses = f"{k}SECURITY_PROTOCOL={s.kafka_security_protocol}"
    sasl = {"SASL_MECHANISM": s.kafka_sasl_mechanism, "SASL_USERNAME": s.kafka_sasl_username,
            "SASL_PASSWORD": s.kafka_sasl_password,
            "SASL_PASSWORD_FILE": s.kafka_sasl_password_file}  # fmt: skip
    tls = {"SSL_CAFILE": s.kafka_ssl_cafile, "SSL_CERTFILE": s.kafka_ssl_certfile,
           "SSL_KEYFILE": s.kafka_ssl_keyfile,
           "SSL_KEY_PASSWORD": s.kafka_ssl_key_password}  # fmt: skip
    out = []
    if s.kafka_security_protocol.startswith("SASL_"):
        if s.kafka_sasl_mechanism is None:
            out.append(f"{uses} needs {k}SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
        if not s.kafka_sasl_username:
            out.append(f"{uses} needs {k}SASL_USERNAME")
        if (s.kafka_sasl_password is None) == (s.kafka_sasl_password_file is None):
            out.append(f"{uses} needs one of {k}SASL_PASSWORD and {k}SASL_PASSWORD_FILE")
    elif named := [k + n for n, v in sasl.items() if v is not None]:
        out.append(f"{', '.join(named)} set but {uses}: use SASL_SSL, or unset them")
    if s.kafka_security_protocol not in ("SSL", "SASL_SSL") and (
        named := [k + n for n, v in tls.items() if v is not None]
    ):
        out.append(f"{', '.join(named)} set but {uses}: use SSL or SASL_SSL, or unset them")
    if s.kafka_ssl_keyfile is not None and s.kafka_ssl_certfile is None:
        out.append(f"{k}SSL_KEYFILE without {k}SSL_CERTFILE: set both (mutual TLS) or neither")
    for name, path in [*tls.items(), *sasl.items()]:
        if isinstance(path, Path) and not _readable(path):
            out.append(f"{k}{name}={str(path)!r} cannot be read: point it at a readable file")
    return out


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


def _check_scheme(url: str, schemes: tuple[str, ...]) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in schemes:
        raise ValueError(f"unknown scheme; allowed: {' or '.join(s + '://' for s in schemes)}")
    return url


def _allowed(name: str) -> str:
    """What a numeric or boolean field accepts, from its type and bounds."""
    field = Settings.model_fields[name]
    kind = {int: "an integer", float: "a number", bool: "true or false"}.get(
        field.annotation,  # type: ignore[arg-type]
        "",
    )
    bounds = {}
    for rule in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(rule, attr, None) is not None:
                bounds[attr] = getattr(rule, attr)
    if "ge" in bounds and "le" in bounds:
        return f"{kind} from {bounds['ge']} to {bounds['le']}"
    ops = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " ".join([kind, " and ".join(f"{ops[a]} {v}" for a, v in bounds.items())]).strip()


def _problems(exc: ValidationError) -> list[str]:
    """One line per bad variable: its name, the value given and what is allowed."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        allowed = _allowed(name) if name in Settings.model_fields else ""
        if allowed and "allowed:" not in message:
            message += f"; allowed: {allowed}"
        value = "'***'" if name in SECRET_FIELDS else repr(error["input"])
        if not name:  # a rule across settings: the message names them
            lines.append(message)
            continue
        lines.append(f"{ENV_PREFIX}{name.upper()}={value}: {message}")
    return lines


def load_settings() -> Settings:
    """Settings from the environment, or InvalidSettings naming every bad variable."""
    unknown = sorted(
        key for key in os.environ
        if key.upper().startswith(ENV_PREFIX)
        and key[len(ENV_PREFIX):].lower() not in Settings.model_fields
    )  # fmt: skip
    for key in unknown:
        logger.warning("%s is not a streamrec setting: ignored (see the README's Settings)", key)
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(_problems(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return load_settings()
