"""A first run as a user makes it: `faust -A app worker` from a fresh directory, bad settings,
no broker, and the spellings people type for the views."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.net import free_port, http_get, http_post
from tests.support.deployment import Deployment
from tests.support.paths import MODELS

ADMIN_TOKEN = "startup-admin-token"


def test_bad_settings_name_each_variable_without_a_traceback(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    bad = {
        "STREAMREC_MAX_BATCH": "abc",
        "STREAMREC_CANARY": "2:150",
        "STREAMREC_TOP_K": "-1",
        "STREAMREC_STORE": "mongodb://x",
    }
    d.start_worker(wait=False, **bad)
    code, out = d.finish()
    assert code == 2, out
    assert "Traceback" not in out and "pydantic" not in out, out
    assert "streamrec: cannot start: invalid settings" in out
    for name, value in bad.items():
        (line,) = [x for x in out.splitlines() if x.strip().startswith(f"{name}=")]
        assert repr(value) in line, line
        assert "allowed" in line, line


def test_unreachable_broker_is_named_in_one_line_then_exit_1(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    nowhere = f"kafka://127.0.0.1:{free_port()}"
    d.start_worker(wait=False, STREAMREC_BROKER=nowhere, STREAMREC_BROKER_WAIT_S="1")
    code, out = d.finish()
    assert code == 1, out
    assert "Traceback" not in out, out
    (line,) = [x for x in out.splitlines() if "no Kafka broker answered" in x]
    assert nowhere in line and "STREAMREC_BROKER" in line


def test_data_dir_that_cannot_be_made_is_refused_clearly(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    d = deployment_factory()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    d.start_worker(wait=False, data_dir=str(blocker / "data"))
    code, out = d.finish()
    assert code == 1, out
    assert "Traceback" not in out, out
    assert "STREAMREC_DATA_DIR=" in out and "cannot be created" in out


@pytest.fixture
def fresh_worker(deployment_factory: Callable[..., Deployment], tmp_path: Path) -> Deployment:
    """A worker started as the docs say, from a directory with no ``var/``: the default
    data dir (``var/data``, relative) must be created by the worker itself."""
    d = deployment_factory(STREAMREC_MODEL_DIR=str(MODELS), STREAMREC_ADMIN_TOKEN=ADMIN_TOKEN)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    d.start_worker(data_dir="", cwd=fresh)
    assert (fresh / "var" / "data").is_dir()
    assert f"table state in {fresh / 'var' / 'data'}" in d.workers[0].log.read_text()
    return d


VIEWS = [
    "/health/live", "/health/ready", "/metrics", "/models/", "/v2/health/live",
    "/v2/health/ready", "/v2/models/itemsvd", "/v2/models/itemsvd/ready",
]  # fmt: skip


def test_fresh_directory_and_both_spellings_of_every_view(fresh_worker: Deployment) -> None:
    url = fresh_worker.workers[0].web_url
    for path in VIEWS:
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        for spelling in (path, other):
            status, body = http_get(url + spelling)
            assert status == 200, (spelling, status, body)
    # Per-user views answer 404 JSON (unknown user), not aiohttp's 404 page, either way.
    for spelling in ("/recommendations/42/", "/recommendations/42", "/features/42"):
        status, body = http_get(url + spelling)
        assert (status, body[:1]) == (404, b"{"), (spelling, status, body)
    # And the POST views.
    infer = b'{"inputs": [{"name": "history", "shape": [1], "datatype": "BYTES", "data": ["50"]}]}'
    for path, body in (
        ("/models/itemsvd/reload", b""),
        ("/models/itemsvd/reload/", b""),
        ("/v2/models/itemsvd/infer", infer),
        ("/v2/models/itemsvd/infer/", infer),
    ):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        status, answer, _ = http_post(url + path, body, admin, timeout=10)
        assert status == 200, (path, answer)
