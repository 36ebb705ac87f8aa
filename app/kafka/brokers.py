"""Where the Kafka brokers are and how to reach them: one value every Kafka client takes.

Faust's own clients (the agent's consumer, its producer, table changelogs, topic creation) get
the security through ``broker_credentials`` (``KafkaSecurity.faust_credentials``); every client
streamrec creates itself (the output sender, the control listener and ``models`` CLI, topic
creation, replay, the readers of bench and verify) is built from ``Brokers.client_kwargs``,
so none of them can be pointed at the servers without the security that goes with them.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from app.settings import Protocol, SaslMechanism, Settings

__all__ = ["PLAINTEXT", "Brokers", "KafkaSecurity"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSecurity:
    """Kafka's ``security.protocol`` and what goes with it (SASL login, TLS files)."""

    protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    """CA bundle that signed the brokers' certificates; None: the system's trusted CAs."""
    certfile: Path | None = None
    """Client certificate (mutual TLS), PEM; ``keyfile`` is its private key."""
    keyfile: Path | None = None
    key_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True
    """Off: the chain is still verified, the broker's name is not (self-signed labs only)."""

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (built once: loading a CA bundle takes ms)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.cafile) if self.cafile else None
        )
        if self.certfile is not None:
            context.load_cert_chain(
                str(self.certfile), str(self.keyfile) if self.keyfile else None, self.key_password
            )
        context.check_hostname = self.check_hostname
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's producer, consumer and admin client."""
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            out["ssl_context"] = self.ssl_context
        if self.sasl:
            out.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return out

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials`` for the same connection (None: plaintext)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password,
                ssl_context=self.ssl_context,  # SASL_SSL when set, SASL_PLAINTEXT when None
                mechanism=self.sasl_mechanism,
            )
        if self.tls:
            return faust.SSLCredentials(self.ssl_context)
        return None

    def describe(self) -> str:
        """What an operator may see in logs and errors: never the password."""
        parts: list[str] = [self.protocol]
        if self.sasl:
            parts.append(f"{self.sasl_mechanism} as {self.username!r}")
        if self.tls:
            parts.append(f"CA {self.cafile or 'system'}")
            if self.certfile is not None:
                parts.append(f"client certificate {self.certfile}")
        return ", ".join(parts)


PLAINTEXT = KafkaSecurity()


@dataclass(frozen=True)
class Brokers:
    """Bootstrap servers (``host:port``) plus the security to reach them with."""

    servers: tuple[str, ...]
    security: KafkaSecurity = PLAINTEXT

    @classmethod
    def from_settings(cls, settings: Settings) -> Brokers:
        """BROKER's servers with the KAFKA_* security: every Kafka client is built from it."""
        s = settings
        security = KafkaSecurity(
            protocol=s.kafka_security_protocol,
            sasl_mechanism=s.kafka_sasl_mechanism,
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_secret,
            cafile=s.kafka_ssl_cafile,
            certfile=s.kafka_ssl_certfile,
            keyfile=s.kafka_ssl_keyfile,
            key_password=(
                s.kafka_ssl_key_password.get_secret_value() if s.kafka_ssl_key_password else None
            ),
            check_hostname=s.kafka_ssl_check_hostname,
        )
        return cls(tuple(s.bootstrap_servers), security)

    @classmethod
    def plain(cls, servers: list[str] | tuple[str, ...]) -> Brokers:
        """Plaintext access to ``servers`` (the embedded broker, tests)."""
        return cls(tuple(servers))

    def client_kwargs(self) -> dict[str, Any]:
        """``bootstrap_servers`` and the security keyword arguments of an aiokafka client."""
        return {"bootstrap_servers": list(self.servers), **self.security.client_kwargs()}

    def __str__(self) -> str:
        return f"{','.join(self.servers)} ({self.security.describe()})"
