"""Hot reload and rollback on a running worker: the version in the outputs follows, a broken
version is refused and the current one keeps serving."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.inference.manifest import MANIFEST_FILE
from app.processes import WorkerProcess
from app.training.train import catalogue
from app.verify.check import make_traffic
from tests.integration.conftest import Deployment

MODELS = Path(__file__).resolve().parents[2] / "models"


def add_version(registry: Path, version: str, corrupt: bool = False) -> None:
    """A new version directory, written aside and renamed into place (atomic, as a deploy)."""
    staging = registry / f".staging-{version}"
    shutil.copytree(MODELS / "itemsvd" / "1", staging)
    manifest = msgspec.json.decode((staging / MANIFEST_FILE).read_bytes())
    manifest["version"] = version
    (staging / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    if corrupt:
        (staging / "model.onnx").write_bytes(b"\x08\x07truncated")
    staging.rename(registry / "itemsvd" / version)


def post(worker: WorkerProcess, path: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(worker.web_url + path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, msgspec.json.decode(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, msgspec.json.decode(exc.read())


async def test_reload_and_rollback_switch_the_served_version_and_refuse_a_broken_one(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    (registry / "itemsvd").mkdir(parents=True)
    shutil.copytree(MODELS / "itemsvd" / "1", registry / "itemsvd" / "1")
    d = deployment_factory(STREAMREC_MODEL_DIR=str(registry))
    await d.create_topics()
    worker = d.start_worker()
    items = catalogue()
    sent = 0

    async def versions_of_next_traffic(run: str) -> Counter[str]:
        nonlocal sent
        traffic = make_traffic(5, 10, items, run=run)
        report = await d.verify(traffic)
        assert report.ok and report.duplicates == 0, report.summary()
        sent += traffic.n_valid
        outputs = await d.consume(d.output_topic, sent)
        ids = {eid for eids in traffic.valid.values() for eid in eids}
        return Counter(
            v["model_version"]
            for v in (msgspec.json.decode(o.value) for o in outputs)
            if v["event_id"] in ids
        )

    assert await versions_of_next_traffic("a") == Counter({"1": 50})

    add_version(registry, "2")
    assert post(worker, "/models/itemsvd/reload") == (200, {"serving": "2", "before": "1"})
    assert await versions_of_next_traffic("b") == Counter({"2": 50})

    assert post(worker, "/models/itemsvd/rollback") == (200, {"serving": "1", "before": "2"})
    assert await versions_of_next_traffic("c") == Counter({"1": 50})

    add_version(registry, "3", corrupt=True)
    status, body = post(worker, "/models/itemsvd/reload")
    assert status == 409 and body["serving"] == "1" and "itemsvd/3" in str(body["error"]), body
    assert await versions_of_next_traffic("d") == Counter({"1": 50})
    assert post(worker, "/models/other/reload")[0] == 404
