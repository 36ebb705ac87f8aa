"""One deployment's names on a shared broker, and the environment of its workers.

Tests and the bench run many deployments on one broker; each gets its own app id (consumer
group, changelog topics), topics and data directories, so they never see each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from app.kafka.brokers import PLAINTEXT, Brokers, KafkaSecurity
from devtools.net import free_port

__all__ = ["Namespace"]


@dataclass
class Namespace:
    """Topic names, app id and per-worker settings of one deployment."""

    broker_url: str
    root: Path
    partitions: int = 4
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    security: KafkaSecurity = PLAINTEXT
    """How the broker is reached (TLS, SASL); workers get the matching settings."""

    @property
    def brokers(self) -> Brokers:
        return Brokers((self.broker_url.split("://", 1)[-1],), self.security)

    @property
    def input_topic(self) -> str:
        return f"{self.name}.interactions"

    @property
    def output_topic(self) -> str:
        return f"{self.name}.recommendations"

    @property
    def dlq_topic(self) -> str:
        return f"{self.name}.dlq"

    @property
    def control_topic(self) -> str:
        """The workers' default (``<APP_ID>.control``)."""
        return f"streamrec-{self.name}.control"

    def worker_env(self, index: int, port: int = 0, **extra: str) -> dict[str, str]:
        """``STREAMREC_*`` of worker ``index``: its own web port and data dir; ``extra`` wins."""
        return {
            "STREAMREC_BROKER": self.broker_url,
            "STREAMREC_APP_ID": f"streamrec-{self.name}",
            "STREAMREC_INPUT_TOPIC": self.input_topic,
            "STREAMREC_OUTPUT_TOPIC": self.output_topic,
            "STREAMREC_DLQ_TOPIC": self.dlq_topic,
            "STREAMREC_PARTITIONS": str(self.partitions),
            "STREAMREC_WEB_PORT": str(port or free_port()),
            "STREAMREC_DATA_DIR": str(self.root / self.name / f"worker{index}"),
            # Short: the embedded broker's first group join waits half of it.
            "STREAMREC_SESSION_TIMEOUT_S": "4",
            **_security_env(self.security),
            **extra,
        }


def _security_env(security: KafkaSecurity) -> dict[str, str]:
    """The ``STREAMREC_KAFKA_*`` settings that give a worker ``security``."""
    values = {
        "SECURITY_PROTOCOL": security.protocol,
        "SASL_MECHANISM": security.sasl_mechanism,
        "SASL_USERNAME": security.username,
        "SASL_PASSWORD": security.password,
        "SSL_CAFILE": security.cafile,
        "SSL_CERTFILE": security.certfile,
        "SSL_KEYFILE": security.keyfile,
        "SSL_KEY_PASSWORD": security.key_password,
        "SSL_CHECK_HOSTNAME": None if security.check_hostname else "false",
    }
    return {f"STREAMREC_KAFKA_{k}": str(v) for k, v in values.items() if v is not None}
