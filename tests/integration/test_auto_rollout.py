"""The automatic rollout on a real worker replaying MovieLens: a new version is canaried by
itself; the better one (the served ItemSVD against a most-popular main) is promoted and a
model with random scores rolled back, each with its evidence in /models/, and every event
still gets exactly one update."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from app.devtools.replay import replay
from app.inference.manifest import MANIFEST_FILE
from app.movielens import load_ratings
from app.training.itemsvd import ItemSvdParams, build_onnx
from tests.integration.conftest import Deployment, wait_for

MODELS = Path(__file__).resolve().parents[2] / "models"
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


async def test_new_versions_are_canaried_then_promoted_or_rolled_back_on_live_evidence(
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
    worker = d.start_worker()

    def rollout() -> dict[str, Any]:
        status, body = d.get_json(worker, "/models/")
        assert status == 200 and isinstance(body, dict), body
        return body["rollout"]  # type: ignore[no-any-return]

    def decided(action: str, version: str) -> dict[str, Any] | None:
        for decision in rollout()["decisions"]:
            if (decision["action"], decision["version"]) == (action, version):
                return decision  # type: ignore[no-any-return]
        return None

    assert await asyncio.to_thread(wait_for, lambda: rollout()["promoted"] == "1", 60)
    ratings = load_ratings()
    sending = asyncio.create_task(
        replay(ratings, brokers=d.brokers, topic=d.input_topic, rate=2500, progress=False)
    )
    write_model(registry, "2", "served")
    assert await asyncio.to_thread(wait_for, lambda: decided("promote", "2") is not None, 120)
    promotion = decided("promote", "2")
    print("promotion:", msgspec.json.encode(promotion).decode())
    assert promotion is not None and promotion["evidence"] is not None
    evidence = promotion["evidence"]
    arms = evidence["arms"]
    assert min(arms["main"]["events"], arms["canary"]["events"]) >= 300
    assert arms["canary"]["hit_rate"] > arms["main"]["hit_rate"]
    assert evidence["statistic"] >= evidence["threshold"] == 20.0
    assert rollout()["promoted"] == "2" and rollout()["canary"] is None

    write_model(registry, "3", "random")
    assert await asyncio.to_thread(wait_for, lambda: decided("abort", "3") is not None, 120)
    abort = decided("abort", "3")
    print("rollback:", msgspec.json.encode(abort).decode())
    assert (
        abort is not None
        and abort["evidence"]["arms"]["canary"]["hit_rate"]
        < (abort["evidence"]["arms"]["main"]["hit_rate"])
    )
    state = rollout()
    assert (state["promoted"], state["canary"], state["refused"]) == ("2", None, ["3"])

    await sending
    outputs = await d.consume(d.output_topic, len(ratings), timeout=180)
    values = [msgspec.json.decode(o.value) for o in outputs]
    ids = Counter(v["event_id"] for v in values)
    assert len(ids) == len(ratings) and max(ids.values()) == 1  # one update per event
    # Each event was scored by one arm: its version is one of the three, its variant says which.
    assert {(v["variant"], v["model_version"]) for v in values} <= {
        ("main", "1"), ("canary", "2"), ("main", "2"), ("canary", "3")
    }  # fmt: skip
