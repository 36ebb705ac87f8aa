"""The HTTP surface of a real worker: admin endpoints need the token, secrets never show,
hostile bodies get a 400, not a 500."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from devtools.net import http_get, http_post
from devtools.processes import WorkerProcess
from tests.support.deployment import Deployment
from tests.support.paths import ROOT

TOKEN = "k8s-secret-9d2c41e0b7"


def post(
    worker: WorkerProcess, path: str, body: bytes = b"", token: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http_post(worker.web_url + path, body, headers)


async def test_without_a_token_admin_is_disabled_and_bad_bodies_are_a_400(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker = d.start_worker()
    status, body, _ = post(worker, "/models/itemsvd/reload", token="anything")
    assert status == 403 and b"STREAMREC_ADMIN_TOKEN" in body, body
    assert http_get(worker.web_url + "/models/")[0] == 200  # reading stays open
    not_utf8 = (
        b'{"inputs": [{"name": "history", "datatype": "BYTES", "shape": [1], "data": ["\xff"]}]}'
    )
    status, body, _ = post(worker, "/v2/models/itemsvd/infer", not_utf8)
    assert status == 400 and b"UTF-8" in body, body


async def test_the_token_from_a_file_guards_admin_and_never_shows(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    secret = tmp_path / "admin-token"
    secret.write_text(TOKEN + "\n")
    d = deployment_factory(STREAMREC_ADMIN_TOKEN_FILE=str(secret))
    await d.create_topics()
    worker = d.start_worker()
    answers = []
    for token in (None, "k8s-secret-9d2c41e0b", TOKEN + "x"):
        status, body, headers = post(worker, "/models/itemsvd/rollback", token=token)
        assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer"), body
        answers.append(body)
    # Authorized: the worker acts (nothing to roll back to: 409, the model keeps serving).
    status, body, _ = post(worker, "/models/itemsvd/rollback", token=TOKEN)
    assert status == 409 and b"serving" in body, body
    answers.append(body)
    metrics = http_get(worker.web_url + "/metrics")[1]
    assert b'streamrec_admin_denied_total{reason="missing",via="http"} 1.0' in metrics
    assert b'streamrec_admin_denied_total{reason="wrong",via="http"} 2.0' in metrics
    shown = [metrics, http_get(worker.web_url + "/models/")[1], *answers]
    worker.stop()
    shown.append(worker.log.read_bytes())
    assert all(TOKEN.encode() not in text for text in shown)


def test_the_models_cli_refuses_to_send_an_unsigned_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("faust")), "-A", "app", "models", "--reload"],
        cwd=ROOT, env={**env, "STREAMREC_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    # What to set where the CLI runs, not the HTTP header it never sends.
    assert "set STREAMREC_ADMIN_TOKEN (or STREAMREC_ADMIN_TOKEN_FILE)" in done.stderr
    assert "Authorization" not in done.stderr
