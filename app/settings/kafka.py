"""Kafka: where the brokers are, how the consumer waits on them, how producers compress."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from app.settings.base import Scope

__all__ = ["BROKER_SCHEMES", "Compression", "KafkaSettings"]

BROKER_SCHEMES = ("kafka", "aiokafka")

Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]


class KafkaSettings(Scope):
    """The broker URL(s), the consumer's timing and the producers' compression."""

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap URL(s), Faust style: ``kafka://host:port[;kafka://host2:port]``; after
    the first URL the scheme may be left out (``kafka://host1:9092,host2:9092``)."""

    broker_wait_s: float = Field(default=30.0, ge=0)
    """How long a starting worker waits for a broker of BROKER to answer before it exits
    with code 1 (an orchestrator restarts it); it says which URL it tried. 0: no wait."""

    session_timeout_s: float = Field(default=10.0, gt=0)
    """Consumer group session timeout (the embedded broker's first join waits half of it)."""

    fetch_max_wait_ms: int = Field(default=10, ge=0, le=60_000)
    """Longest a consumer fetch waits for data. Faust's 1500 ms is harmless on Kafka (it answers
    as soon as data arrives) but the embedded broker holds fetches for part of it."""

    compression: Compression = "none"
    """Compression of the record batches the worker writes for others to read (updates,
    shadow updates, dead letters, and the dead letters ``dlq redrive`` sends back): ``none``,
    ``gzip``, ``snappy``, ``lz4`` or ``zstd``. zstd sends the JSON updates in a quarter of the
    bytes for 1.4 microseconds per record; at the levels aiokafka fixes, lz4 shrinks less for
    more CPU and gzip as much for five times the CPU. Off by default because every consumer
    must read it: Kafka clients from 2.1 on read zstd, aiokafka only with cramjam installed.
    The worker's own changelogs, read only by workers, are always zstd."""

    @field_validator("compression", mode="before")
    @classmethod
    def _compression_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def producer_compression(self) -> str | None:
        """``compression`` as Kafka clients take it (``None``: uncompressed)."""
        return None if self.compression == "none" else self.compression

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        parts = [p.strip() for p in value.replace(",", ";").split(";") if p.strip()]
        allowed = "kafka://host:port, several separated by ';' or ','"
        if not parts:
            raise ValueError(f"no broker URL given; allowed: {allowed}")
        # As Faust reads it: addresses after a URL may omit the scheme (kafka://a:9092,b:9092),
        # so one bootstrap list serves both the workers and KEDA's bootstrapServers.
        if "://" not in parts[0]:
            raise ValueError(f"{parts[0]!r} is not a broker URL; allowed: {allowed}")
        for part in parts:
            scheme, sep, address = part.rpartition("://")
            host, port = _split_address(address.rstrip("/"))
            if (sep and scheme not in BROKER_SCHEMES) or not host or not port.isdigit():
                raise ValueError(f"{part!r} is not a broker URL; allowed: {allowed}")
        return value

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` list for plain Kafka clients, from the Faust-style ``broker`` URL."""
        servers = []
        for part in self.broker.replace(",", ";").split(";"):
            part = part.strip()
            if part:
                servers.append(part.split("://", 1)[-1].rstrip("/"))
        return servers

    @property
    def broker_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each bootstrap server."""
        out = []
        for server in self.bootstrap_servers:
            host, port = _split_address(server)
            out.append((host.strip("[]"), int(port)))
        return out


def _split_address(address: str) -> tuple[str, str]:
    """(host, port) of ``host[:port]`` or ``[v6]:port``; Kafka's port 9092 when none is given."""
    host, colon, port = address.rpartition(":")
    if not colon or host.count("[") != host.count("]") or address.endswith("]"):
        return address, "9092"
    return host, port
