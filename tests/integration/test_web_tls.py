"""TLS on the workers' web and gRPC servers (STREAMREC_WEB_TLS_*), for real: two workers with
one certificate, asked by tritonclient over https and over gRPC with TLS, forwarding each
other's users over https; neither server answers in plaintext."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gevent.ssl
import msgspec
import numpy as np
import pytest
import tritonclient.grpc
import tritonclient.http
import trustme
from tritonclient.utils import InferenceServerException

from devtools.net import free_port, http_get
from tests.support.deployment import Deployment
from tests.support.paths import ROOT
from tests.support.waiting import wait_for

CA = trustme.CA()


def issue(directory: Path) -> bytes:
    """A certificate of CA for 127.0.0.1 (the workers' WEB_HOST) and its key, written in
    ``directory`` as the settings name them (each file replaced whole); its DER form."""
    cert = CA.issue_cert("127.0.0.1", "localhost")
    files = {"worker.key": cert.private_key_pem.bytes(),
             "worker.pem": b"".join(blob.bytes() for blob in cert.cert_chain_pems)}  # fmt: skip
    for name, data in files.items():
        (directory / f".{name}").write_bytes(data)
        os.replace(directory / f".{name}", directory / name)
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def served_certificate(port: int) -> bytes:
    """The certificate a TLS server on 127.0.0.1:``port`` presents now (DER)."""
    context = ssl.create_default_context(cafile=None)
    context.load_verify_locations(cadata=CA.cert_pem.bytes().decode())
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


@pytest.fixture
def web_tls_env(tmp_path: Path) -> dict[str, str]:
    """A throwaway CA and the workers' certificate, as the settings a worker takes (looked
    at for a renewal every second)."""
    issue(tmp_path)
    (tmp_path / "ca.pem").write_bytes(CA.cert_pem.bytes())
    return {"STREAMREC_WEB_TLS_CERTFILE": str(tmp_path / "worker.pem"),
            "STREAMREC_WEB_TLS_KEYFILE": str(tmp_path / "worker.key"),
            "STREAMREC_WEB_TLS_CAFILE": str(tmp_path / "ca.pem"),
            "STREAMREC_WEB_TLS_RELOAD_S": "1"}  # fmt: skip


async def test_tls_web_and_grpc_servers_forward_over_https_and_refuse_plaintext(
    deployment_factory: Callable[..., Deployment], web_tls_env: dict[str, str]
) -> None:
    d = deployment_factory(**web_tls_env)
    await d.create_topics()
    grpc_ports = [free_port(), free_port()]
    first, second = (d.start_worker(STREAMREC_GRPC_PORT=str(port)) for port in grpc_ports)
    assert first.web_url.startswith("https://127.0.0.1:")
    ca = web_tls_env["STREAMREC_WEB_TLS_CAFILE"]

    # Nothing in plaintext: an http request and a gRPC channel without TLS get no answer.
    plain = first.web_url.replace("https://", "http://")
    assert http_get(plain + "/health/live", timeout=5)[0] == 0
    with pytest.raises(InferenceServerException):
        tritonclient.grpc.InferenceServerClient(f"127.0.0.1:{grpc_ports[0]}").is_server_live()

    users = [str(u) for u in range(400, 420)]
    records = [
        (u.encode(), msgspec.json.encode({"user_id": u, "item_id": str(int(u) % 50 + 1),
                                          "event": "view"}))
        for u in users
    ]  # fmt: skip
    await d.produce(records)
    latest = {}
    for o in await d.consume(d.output_topic, len(records), settle=1.0):
        latest[o.key.decode()] = [i["item_id"] for i in msgspec.json.decode(o.value)["items"]]

    # Each user's update from either worker: one of them forwards it to the owner over https.
    def both_answer(user: str) -> bool:
        for worker in (first, second):
            status, body = d.get_json(worker, f"/recommendations/{user}/")
            if status != 200 or not isinstance(body, dict):
                return False
            if [i["item_id"] for i in body["items"]] != latest[user]:
                return False
        return True

    wait_for(lambda: all(both_answer(u) for u in users), timeout=30, interval=0.5)
    assert [u for u in users if not both_answer(u)] == []

    # tritonclient over https (binary tensors, its default) and over gRPC with TLS, each asked
    # of one worker for every user: the answers are the stream's, whichever worker owns them.
    https = tritonclient.http.InferenceServerClient(
        first.web_url.removeprefix("https://"), ssl=True, ssl_options={"ca_certs": ca},
        ssl_context_factory=gevent.ssl.create_default_context,
    )  # fmt: skip
    grpc = tritonclient.grpc.InferenceServerClient(
        f"127.0.0.1:{grpc_ports[1]}", ssl=True, root_certificates=ca
    )
    assert https.is_server_ready() and grpc.is_server_ready()
    for module, client in [(tritonclient.http, https), (tritonclient.grpc, grpc)]:
        ids = module.InferInput("user_id", [len(users)], "INT64")
        ids.set_data_from_numpy(np.array([int(u) for u in users], dtype=np.int64))
        items = client.infer("itemsvd", [ids]).as_numpy("item_ids")
        assert [[i.decode() for i in row] for row in items] == [latest[u] for u in users]

    # The CLI reads the served arms over https, checking the certificate as workers do.
    listing = (
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "faust", "-A", "app", "models"],
            env=first.env, capture_output=True, text=True, timeout=60, check=True,
        )
    ).stdout  # fmt: skip
    assert f"arms served by {first.web_url}" in listing, listing

    # The image's HEALTHCHECK asks over https when the certificate is set.
    (line,) = [x for x in (ROOT / "Dockerfile").read_text().splitlines() if 'CMD ["python"' in x]
    command = json.loads(line.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    done = subprocess.run([sys.executable, "-c", command[2]], env=first.env, timeout=30,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr

    # A renewed certificate in the same files: both servers present it to new connections,
    # with no restart, and clients trusting the CA go on working.
    web_port = int(first.env["STREAMREC_WEB_PORT"])
    old = served_certificate(web_port)
    assert served_certificate(grpc_ports[0]) == old
    new = issue(Path(web_tls_env["STREAMREC_WEB_TLS_CERTFILE"]).parent)
    assert new != old
    assert wait_for(lambda: served_certificate(web_port) == new, 30)
    assert wait_for(lambda: served_certificate(grpc_ports[0]) == new, 30)
    assert d.get_json(first, f"/recommendations/{users[0]}/")[0] == 200
    renewed = tritonclient.grpc.InferenceServerClient(
        f"127.0.0.1:{grpc_ports[0]}", ssl=True, root_certificates=ca
    )
    assert renewed.is_server_ready()
