"""Kafka security for real: a worker consuming and producing through mutual TLS, and the
refusals (a CA that did not sign the broker, a SASL login the broker turns down) that stop a
worker with the setting to fix, never showing a secret.

What the embedded broker (Tansu 0.6.0) can do, as tried: it cannot serve TLS itself (``--cert``
alone still listens in plaintext, ``--cert`` with ``--key`` is refused by its argument parser),
so the test's TcpProxy terminates TLS in front of it; the worker's clients speak real TLS
(aiokafka's, with the CA, client certificate and encrypted key streamrec was configured with).
Its ``--authentication`` runs SCRAM logins, but this build keeps no users (they live in its
PostgreSQL engine, not compiled in), so a refused login is what can be tested.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives import serialization

from app.errors import CannotStart
from app.kafka.bounded import read_to_end
from app.kafka.brokers import Brokers, KafkaSecurity
from app.pipeline.decode import dead_letter
from app.training.train import catalogue
from app.worker.preflight import check_broker_access
from devtools.broker import EmbeddedBroker
from devtools.net import free_port, http_get
from devtools.verify.check import make_traffic
from tests.support.deployment import Deployment
from tests.support.dlq import run_dlq
from tests.support.paths import MODELS
from tests.support.pipeline import Record
from tests.support.proxy import TcpProxy


@dataclass
class Pki:
    """A throwaway CA, the broker's TLS context (client certificates required) and a worker's
    client certificate with its passphrase-protected key."""

    ca: trustme.CA
    server: ssl.SSLContext
    security: KafkaSecurity


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    ca.configure_trust(server)
    server.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no entry
    client = ca.issue_cert("streamrec-worker")
    passphrase = f"key-{uuid.uuid4().hex}"
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    files = {"ca.pem": ca.cert_pem.bytes(), "client.pem": client.cert_chain_pems[0].bytes(),
             "client.key": locked}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    security = KafkaSecurity(
        "SSL", cafile=tmp_path / "ca.pem", certfile=tmp_path / "client.pem",
        keyfile=tmp_path / "client.key", key_password=passphrase,
    )  # fmt: skip
    return Pki(ca, server, security)


@pytest.fixture
async def tls_broker(pki: Pki, tmp_path: Path) -> AsyncIterator[tuple[EmbeddedBroker, TcpProxy]]:
    """An embedded broker reachable only through TLS (its advertised port is the proxy's)."""
    listen_port = free_port()
    proxy = await TcpProxy(listen_port, tls=pki.server).start()
    broker = EmbeddedBroker(port=proxy.port, listen_port=listen_port, log=tmp_path / "b.log")
    broker.start()
    yield broker, proxy
    broker.stop()
    await proxy.cut()


async def test_worker_streams_through_mutual_tls_and_shows_no_secret(
    pki: Pki, tls_broker: tuple[EmbeddedBroker, TcpProxy], tmp_path: Path
) -> None:
    broker, proxy = tls_broker
    admin_token = f"admin-{uuid.uuid4().hex}"
    d = Deployment(
        broker, tmp_path, "tls",
        {"STREAMREC_MODEL_DIR": str(MODELS), "STREAMREC_ADMIN_TOKEN": admin_token},
        security=pki.security,
    )  # fmt: skip
    try:
        await d.create_topics()
        # Blocking calls on threads: the proxy forwards on this test's event loop.
        worker = await asyncio.to_thread(d.start_worker)
        report = await d.verify(make_traffic(20, 10, catalogue(), bad_users=2), rate=400)
        assert report.ok, report.summary()

        # The proxy's port is the only way in, and it takes TLS with a client certificate only.
        address = [f"127.0.0.1:{proxy.port}"]
        with pytest.raises(CannotStart, match="closed the connection"):
            await asyncio.to_thread(check_broker_access, Brokers.plain(address))
        no_cert = KafkaSecurity("SSL", cafile=pki.security.cafile)
        with pytest.raises(CannotStart):
            await asyncio.to_thread(check_broker_access, Brokers(tuple(address), no_cert))

        pages = [http_get(worker.web_url + p)[1] for p in ("/models/", "/metrics", "/health/ready")]
        shown = b"".join(pages).decode(errors="replace") + worker.log.read_text(errors="replace")
        assert pki.security.key_password and pki.security.key_password not in shown
        assert admin_token not in shown
    finally:
        for w in d.workers:
            await asyncio.to_thread(w.stop)


async def test_a_ca_that_did_not_sign_the_broker_stops_the_worker_clearly(
    pki: Pki, tls_broker: tuple[EmbeddedBroker, TcpProxy], tmp_path: Path
) -> None:
    broker, _ = tls_broker
    stranger = tmp_path / "stranger-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    security = KafkaSecurity(
        "SSL", cafile=stranger, certfile=pki.security.certfile, keyfile=pki.security.keyfile,
        key_password=pki.security.key_password,
    )  # fmt: skip
    d = Deployment(broker, tmp_path, "wrong-ca", {}, security=security)
    d.start_worker(wait=False)
    code, out = await asyncio.to_thread(d.finish)
    assert code == 1, out
    assert "Traceback" not in out, out
    (line,) = [x for x in out.splitlines() if "Kafka refused streamrec's connection" in x]
    assert "certificate was not accepted" in line and "STREAMREC_KAFKA_SSL_CAFILE" in line, line


def test_a_refused_sasl_login_names_the_settings_and_never_the_password(tmp_path: Path) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    security = KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-512", "streamrec", password)
    with EmbeddedBroker(port=free_port(), authentication=True, log=tmp_path / "b.log") as broker:
        d = Deployment(broker, tmp_path, "sasl", {}, security=security)
        d.start_worker(wait=False)
        code, out = d.finish()
    assert code == 1, out
    assert "Traceback" not in out, out
    (line,) = [x for x in out.splitlines() if "Kafka refused streamrec's connection" in x]
    assert "SASL login as 'streamrec' (SCRAM-SHA-512) failed" in line, line
    assert "STREAMREC_KAFKA_SASL_PASSWORD" in line, line
    assert password not in out


async def test_dlq_reads_and_redrives_through_mutual_tls(
    pki: Pki, tls_broker: tuple[EmbeddedBroker, TcpProxy], tmp_path: Path
) -> None:
    """``dlq`` connects with the KAFKA_* settings, as the worker does."""
    broker, _ = tls_broker
    d = Deployment(broker, tmp_path, "tls-dlq", {}, security=pki.security)
    await d.create_topics()
    producer = AIOKafkaProducer(**d.brokers.client_kwargs())
    await producer.start()
    try:
        for n in range(3):  # as the worker writes them
            source = Record(b"u1", b'{"user_id":"u1","item_id":"%d","event":"view"}' % n,
                            d.input_topic, 0, n)  # fmt: skip
            _, (key, value, headers) = dead_letter(source, RuntimeError("boom"))
            await producer.send_and_wait(d.dlq_topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    # Blocking calls on threads: the proxy forwards on this test's event loop.
    summary = await asyncio.to_thread(run_dlq, d)
    assert summary.returncode == 0, summary.stderr[-2000:]
    assert summary.stdout.splitlines()[2].split()[:3] == ["processing_error", "3", "0"]
    done = await asyncio.to_thread(run_dlq, d, "--redrive", "--reason", "processing_error")
    assert done.returncode == 0 and "redrove 3 dead letter(s)" in done.stdout, done.stderr
    redriven = [r async for r in read_to_end(d.brokers, d.input_topic)]
    assert len(redriven) == 3
    assert all(dict(r.headers)["streamrec.redrive.topic"] == d.dlq_topic.encode()
               for r in redriven)  # fmt: skip
    # Without the client certificate the broker lets it in nowhere: one line, exit code 1.
    plain = Deployment(broker, tmp_path, "tls-dlq", {})
    refused = await asyncio.to_thread(run_dlq, plain)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    print(f"without the certificate: {refused.stderr.splitlines()[-1]}")
    line = refused.stderr.splitlines()[-1]
    assert line.startswith("streamrec: dlq: Kafka refused") and "SECURITY_PROTOCOL" in line
