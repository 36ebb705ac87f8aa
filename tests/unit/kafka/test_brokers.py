"""One Brokers value per deployment: what each Kafka client and Faust get for each protocol,
settings that contradict each other refused, and secrets kept out of what is shown."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
import trustme

from app.errors import InvalidSettings
from app.kafka.brokers import Brokers, KafkaSecurity
from app.settings import load_settings


@pytest.fixture
def cafile(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_plaintext_is_the_default_and_adds_nothing_but_the_protocol() -> None:
    brokers = Brokers.plain(["a:1", "b:2"])
    assert brokers.client_kwargs() == {"bootstrap_servers": ["a:1", "b:2"],
                                       "security_protocol": "PLAINTEXT"}  # fmt: skip
    assert brokers.security.faust_credentials() is None


def test_sasl_ssl_gives_every_client_the_login_and_one_verifying_tls_context(
    cafile: Path,
) -> None:
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-256", "svc", "s3cret", cafile=cafile)
    kwargs = security.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"],
            kwargs["sasl_plain_password"]) == ("SCRAM-SHA-256", "svc", "s3cret")  # fmt: skip
    context = kwargs["ssl_context"]
    assert context is security.client_kwargs()["ssl_context"]  # built once
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.ssl_context is context


def test_ssl_without_hostname_check_still_verifies_the_chain(cafile: Path) -> None:
    security = KafkaSecurity("SSL", cafile=cafile, check_hostname=False)
    context = security.client_kwargs()["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in security.client_kwargs()
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SSLCredentials) and credentials.context is context


def test_sasl_plaintext_has_no_tls_context() -> None:
    security = KafkaSecurity("SASL_PLAINTEXT", "PLAIN", "svc", "s3cret")
    assert "ssl_context" not in security.client_kwargs()
    assert security.faust_credentials().protocol.value == "SASL_PLAINTEXT"


def test_settings_map_to_brokers_and_secrets_stay_out_of_what_is_shown(
    monkeypatch: pytest.MonkeyPatch, cafile: Path, tmp_path: Path
) -> None:
    password = tmp_path / "password"
    password.write_text("from-a-file-secret\n")
    env = {
        "STREAMREC_BROKER": "kafka://k1:9096;kafka://k2:9096",
        "STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",  # as librdkafka users write it
        "STREAMREC_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "STREAMREC_KAFKA_SASL_USERNAME": "svc",
        "STREAMREC_KAFKA_SASL_PASSWORD_FILE": str(password),
        "STREAMREC_KAFKA_SSL_CAFILE": str(cafile),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    brokers = Brokers.from_settings(settings)
    assert brokers.servers == ("k1:9096", "k2:9096")
    assert brokers.security.password == "from-a-file-secret"
    assert brokers.security.sasl_mechanism == "SCRAM-SHA-512"
    for shown in (str(brokers), repr(brokers), repr(settings), brokers.security.describe()):
        assert "from-a-file-secret" not in shown
    assert "SCRAM-SHA-512 as 'svc'" in str(brokers)


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSettings) as caught:
        load_settings()
    return "\n".join(caught.value.problems)


def test_contradicting_security_settings_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = _problems(monkeypatch, STREAMREC_KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    for needed in ("SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD"):
        assert f"STREAMREC_KAFKA_{needed}" in text, text
    monkeypatch.delenv("STREAMREC_KAFKA_SECURITY_PROTOCOL")

    text = _problems(monkeypatch, STREAMREC_KAFKA_SASL_PASSWORD="hunter2-secret",
                     STREAMREC_KAFKA_SSL_KEYFILE=str(tmp_path / "absent.key"))  # fmt: skip
    assert (
        "STREAMREC_KAFKA_SASL_PASSWORD set but STREAMREC_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in text
    )
    assert "STREAMREC_KAFKA_SSL_KEYFILE set but" in text
    assert "without STREAMREC_KAFKA_SSL_CERTFILE" in text
    assert "cannot be read" in text
    assert "hunter2" not in text

    monkeypatch.delenv("STREAMREC_KAFKA_SSL_KEYFILE")
    text = _problems(monkeypatch, STREAMREC_KAFKA_SECURITY_PROTOCOL="TLS")
    assert "STREAMREC_KAFKA_SECURITY_PROTOCOL='TLS'" in text and "SASL_SSL" in text
