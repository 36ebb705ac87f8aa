"""A first run as a user makes it: `faust -A app worker` from a fresh directory, bad settings,
no broker, an input topic a producer made with another partition count, and the spellings
people type for the views."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.kafka.topics import ensure_topics
from devtools.net import free_port, http_get, http_post
from devtools.processes import WorkerProcess
from tests.support.deployment import PARTITIONS, Deployment
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


def _start_with_default_partitions(d: Deployment) -> WorkerProcess:
    """A worker of ``d`` with STREAMREC_PARTITIONS left unset (the tests' namespace sets it)."""
    env = d.env(len(d.workers), free_port())
    del env["STREAMREC_PARTITIONS"]
    worker = WorkerProcess(env, log=d.root / f"worker{len(d.workers)}.log").start()
    d.workers.append(worker)
    return worker


def _refusal(d: Deployment) -> str:
    """The one line a refused worker printed under its 'cannot start' line (exit code 1)."""
    code, out = d.finish()
    assert code == 1, out
    assert "Traceback" not in out and "PartitionsMismatch:" not in out, out
    lines = out.splitlines()
    at = lines.index("streamrec: cannot start: start-up check failed:")
    assert at == len(lines) - 2, out  # one line, and nothing after it
    return lines[-1]


async def test_an_input_topic_made_by_a_producer_is_found_before_serving(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory(STREAMREC_MODEL_DIR=str(MODELS))
    await ensure_topics(d.brokers, [d.input_topic], 4)  # as a producer that started first
    _start_with_default_partitions(d)
    line = _refusal(d)
    assert f"the input topic {d.input_topic} has 4 partitions" in line
    assert "STREAMREC_PARTITIONS=8 (the default)" in line
    assert "set STREAMREC_PARTITIONS=4" in line

    # Done as the line says: the worker serves, and an event gets its update.
    d.start_worker(STREAMREC_PARTITIONS="4")
    log = d.workers[-1].log.read_text()
    assert f"the input topic {d.input_topic} has 4 partitions, as STREAMREC_PARTITIONS" in log
    event = b'{"user_id": "u1", "item_id": "50", "event": "view"}'
    await d.produce([(b"u1", event)])
    (update,) = await d.consume(d.output_topic, 1, timeout=60)
    assert update.key == b"u1"
    assert not await d.consume(d.dlq_topic, 1, timeout=1)
    d.workers[-1].stop()

    # Its tables now have 4 partitions: another count is refused, naming their topics.
    d.start_worker(wait=False, STREAMREC_PARTITIONS="8")
    line = _refusal(d)
    changelog = f"streamrec-{d.ns}-features-changelog (4)"
    assert changelog in line and "set STREAMREC_PARTITIONS=4" in line, line


async def test_a_partition_count_set_against_the_input_is_refused_in_one_line(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await ensure_topics(d.brokers, [d.input_topic], 2)
    d.start_worker(wait=False, STREAMREC_PARTITIONS="4")
    line = _refusal(d)
    assert f"the input topic {d.input_topic} has 2 partitions but STREAMREC_PARTITIONS=4:" in line
    assert "set STREAMREC_PARTITIONS=2" in line


async def test_an_output_topic_that_is_not_compacted_is_named_at_start(
    deployment_factory: Callable[..., Deployment],
) -> None:
    # It restores the latest table and the users' states: time retention forgets idle users.
    d = deployment_factory()
    await ensure_topics(d.brokers, [d.output_topic], PARTITIONS, {"cleanup.policy": "delete"})
    d.start_worker()
    log = d.workers[-1].log.read_text()
    assert (
        f"streamrec: the output topic {d.output_topic} is not compacted (cleanup.policy=delete): "
        "a worker that restores from scratch loses the latest update and the state of users idle"
    ) in log, log
    assert "STREAMREC_STATE_CHANGELOG=topic" in log
    d.workers[-1].stop()
