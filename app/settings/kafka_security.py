"""Kafka security: the protocol every Kafka client connects with, its SASL login and TLS files.

The literal types are defined here, with the settings that read them; ``app.kafka.brokers``
builds its clients' security from them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Self

from pydantic import SecretStr, field_validator, model_validator

from app.settings.base import ENV_PREFIX, Scope, readable

__all__ = ["KafkaSecuritySettings", "Protocol", "SaslMechanism"]

logger = logging.getLogger(__name__)

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecuritySettings(Scope):
    """``security.protocol`` and what goes with it, checked for contradictions as a whole."""

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

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        # librdkafka and the Java client take "sasl_ssl" as well as "SASL_SSL"
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kafka_security(self) -> Self:
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


def _kafka_security_problems(s: KafkaSecuritySettings) -> list[str]:
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
        if isinstance(path, Path) and not readable(path):
            out.append(f"{k}{name}={str(path)!r} cannot be read: point it at a readable file")
    return out
