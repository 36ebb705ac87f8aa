"""The automatic rollout, as a user runs it: two workers replaying MovieLens behind a
most-popular main; ``faust -A app retrain`` writes an ItemSVD learned from the topic, and
waiting is enough: it is canaried, promoted on both workers on the evidence summed over them;
a model with random scores is rolled back by itself; every event still gets exactly one update."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from app.inference.manifest import MANIFEST_FILE
from app.training.itemsvd import ItemSvdParams, build_onnx
from app.training.movielens import load_ratings
from devtools.processes import WorkerProcess
from devtools.replay import replay
from tests.support.deployment import Deployment
from tests.support.paths import MODELS, ROOT
from tests.support.waiting import wait_for

TOKEN = "auto-rollout-admin-token-91c2"


def write_model(registry: Path, version: str, kind: str) -> None:
    """itemsvd/1 as ``version`` (``served``), or the same graph with popularity scores
    (``popular``: no item vectors, log-counts as the bias) or random ones (``random``)."""
    staging = registry / f".staging-{version}"
    shutil.copytree(MODELS / "itemsvd" / "1", staging)
    manifest = msgspec.json.decode((staging / MANIFEST_FILE).read_bytes())
    manifest["version"] = version
    manifest["training"] = {"algorithm": kind}
    if kind != "served":
        items = msgspec.json.decode((staging / "items.json").read_bytes())
        params = ItemSvdParams()
        rng = np.random.default_rng(3)
        if kind == "popular":
            counts = Counter(r.item_id for r in load_ratings())
            emb = np.zeros((len(items) + 1, params.dim), np.float32)
            bias = np.log1p([0, *(counts[i] for i in items)]).astype(np.float32)
        else:
            emb = rng.normal(size=(len(items) + 1, params.dim)).astype(np.float32)
            bias = rng.normal(size=len(items) + 1).astype(np.float32)
        (staging / "model.onnx").write_bytes(build_onnx(emb, bias, params))
    (staging / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    staging.rename(registry / "itemsvd" / version)


async def test_retrain_then_waiting_promotes_the_better_model_everywhere_and_rolls_back_a_worse_one(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    (registry / "itemsvd").mkdir(parents=True)
    write_model(registry, "1", "popular")
    d = deployment_factory(
        STREAMREC_MODEL_DIR=str(registry), STREAMREC_ADMIN_TOKEN=TOKEN,
        STREAMREC_AUTO_ROLLOUT="true", STREAMREC_AUTO_CANARY_PERCENT="50",
        STREAMREC_AUTO_MIN_EVENTS="300", STREAMREC_AUTO_CHECK_S="1", STREAMREC_MODEL_POLL_S="1",
    )  # fmt: skip
    await d.create_topics()
    workers = [d.start_worker(), d.start_worker()]

    def rollout(worker: WorkerProcess) -> dict[str, Any]:
        status, body = d.get_json(worker, "/models/")
        assert status == 200 and isinstance(body, dict), body
        return body["rollout"]  # type: ignore[no-any-return]

    def everywhere(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[], bool]:
        return lambda: all(predicate(rollout(w)) for w in workers)

    def decision(action: str, version: str) -> dict[str, Any] | None:
        for made in rollout(workers[0])["decisions"]:
            if (made["action"], made["version"]) == (action, version):
                return made  # type: ignore[no-any-return]
        return None

    assert await asyncio.to_thread(wait_for, everywhere(lambda r: r["promoted"] == "1"), 60)
    # One controller for the deployment: the worker holding input partition 0.
    # (polled: the group rebalances as the second worker joins)
    assert await asyncio.to_thread(
        wait_for, lambda: sum(rollout(w)["controller"] is not None for w in workers) == 1, 60
    )
    ratings = load_ratings()
    head = 25_000  # what the topic holds when retrain reads it; the rest keeps flowing
    await replay(ratings[:head], brokers=d.brokers, topic=d.input_topic, rate=0, progress=False)
    sending = asyncio.create_task(replay(
        ratings[head:], brokers=d.brokers, topic=d.input_topic, rate=1500, progress=False
    ))  # fmt: skip

    env = {**d.env(0, 0), "STREAMREC_MODEL_NAME": "itemsvd"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "faust", "-A", "app", "retrain"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    print(done.stdout, done.stderr[-2000:])
    assert done.returncode == 0 and (registry / "itemsvd" / "2").is_dir(), done.stderr

    # Nothing but waiting: version 2 is canaried, then promoted on both workers.
    assert await asyncio.to_thread(wait_for, lambda: decision("promote", "2") is not None, 180)
    promotion = decision("promote", "2")
    print("promotion:", msgspec.json.encode(promotion).decode())
    assert promotion is not None and promotion["evidence"] is not None
    evidence = promotion["evidence"]
    arms = evidence["arms"]
    assert evidence["workers"] == 2  # the evidence is summed over the deployment
    assert min(arms["main"]["events"], arms["canary"]["events"]) >= 300
    assert arms["canary"]["hit_rate"] > arms["main"]["hit_rate"]
    assert evidence["statistic"] >= evidence["threshold"] == 20.0
    assert await asyncio.to_thread(
        wait_for, everywhere(lambda r: r["promoted"] == "2" and r["canary"] is None), 30
    )

    write_model(registry, "3", "random")
    assert await asyncio.to_thread(wait_for, lambda: decision("abort", "3") is not None, 180)
    abort = decision("abort", "3")
    print("rollback:", msgspec.json.encode(abort).decode())
    assert abort is not None and abort["evidence"]["workers"] == 2
    assert (
        abort["evidence"]["arms"]["canary"]["hit_rate"]
        < abort["evidence"]["arms"]["main"]["hit_rate"]
    )
    assert await asyncio.to_thread(wait_for, everywhere(
        lambda r: (r["promoted"], r["canary"], r["refused"]) == ("2", None, ["3"])
    ), 30)  # fmt: skip

    await sending
    outputs = await d.consume(d.output_topic, len(ratings), timeout=180)
    values = [msgspec.json.decode(o.value) for o in outputs]
    ids = Counter(v["event_id"] for v in values)
    assert len(ids) == len(ratings) and max(ids.values()) == 1  # one update per event
    # Each event was scored by one arm: its version is one of the three, its variant says which.
    assert {(v["variant"], v["model_version"]) for v in values} <= {
        ("main", "1"), ("canary", "2"), ("main", "2"), ("canary", "3")
    }  # fmt: skip
    for worker in workers:  # and version 2 is what both workers serve, alone
        status, models = d.get_json(worker, "/models/")
        assert status == 200 and isinstance(models, dict)
        assert [(a["variant"], a["version"]) for a in models["arms"]] == [("main", "2")], models
