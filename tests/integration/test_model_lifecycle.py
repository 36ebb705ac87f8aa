"""Hot reload and rollback on a running worker: the version in the outputs follows, a broken
version is refused and the current one keeps serving."""

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
from aiokafka.structs import ConsumerRecord

from app.inference.manifest import MANIFEST_FILE
from app.kafka.topics import ensure_topics
from app.pipeline.variants import canary_bucket
from app.rollout.admin import AdminAuth
from app.rollout.control import ModelCommand, send_command
from app.training.train import catalogue
from devtools.net import http_get, http_post, scrape_metrics
from devtools.processes import WorkerProcess
from devtools.verify.check import make_traffic
from devtools.verify.run import send
from tests.support.deployment import PARTITIONS, Deployment
from tests.support.paths import MODELS
from tests.support.waiting import wait_for


def add_version(
    registry: Path, version: str, corrupt: bool = False, mismatched: bool = False
) -> None:
    """A new version directory, written aside and renamed into place (atomic, as a deploy).
    ``mismatched``: its manifest asks for 30 history columns where the graph reads 20."""
    staging = registry / f".staging-{version}"
    shutil.copytree(MODELS / "itemsvd" / "1", staging)
    manifest = msgspec.json.decode((staging / MANIFEST_FILE).read_bytes())
    manifest["version"] = version
    if mismatched:
        manifest["feature_spec"]["max_len"] = 30
    (staging / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    if corrupt:
        (staging / "model.onnx").write_bytes(b"\x08\x07truncated")
    staging.rename(registry / "itemsvd" / version)


def make_registry(tmp_path: Path, *versions: str) -> Path:
    """A registry holding the committed itemsvd/1 under each of ``versions`` (same weights)."""
    registry = tmp_path / "registry"
    (registry / "itemsvd").mkdir(parents=True)
    for version in versions:
        add_version(registry, version)
    return registry


ADMIN_TOKEN = "lifecycle-admin-token-7f3a"


def post(
    worker: WorkerProcess, path: str, token: str | None = ADMIN_TOKEN
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body, _ = http_post(worker.web_url + path, headers=headers)
    return status, msgspec.json.decode(body)


async def test_reload_and_rollback_switch_the_served_version_and_refuse_a_broken_one(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = make_registry(tmp_path, "1")
    # No registry poll: the POSTs alone move the version here.
    d = deployment_factory(
        STREAMREC_MODEL_DIR=str(registry), STREAMREC_MODEL_POLL_S="0",
        STREAMREC_ADMIN_TOKEN=ADMIN_TOKEN,
    )  # fmt: skip
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
    # Admin only: without the token, or with a wrong one, nothing changes.
    status, body = post(worker, "/models/itemsvd/reload", token=None)
    assert status == 401 and "Bearer" in str(body["error"]), body
    assert post(worker, "/models/itemsvd/reload", token="guess")[0] == 401
    assert post(worker, "/models/itemsvd/reload") == (200, {"serving": "2", "before": "1"})
    assert await versions_of_next_traffic("b") == Counter({"2": 50})

    assert post(worker, "/models/itemsvd/rollback") == (200, {"serving": "1", "before": "2"})
    assert await versions_of_next_traffic("c") == Counter({"1": 50})

    add_version(registry, "3", corrupt=True)
    status, body = post(worker, "/models/itemsvd/reload")
    assert status == 409 and body["serving"] == "1" and "itemsvd/3" in str(body["error"]), body
    assert await versions_of_next_traffic("d") == Counter({"1": 50})

    add_version(registry, "4", mismatched=True)
    status, body = post(worker, "/models/itemsvd/reload")
    assert status == 409 and "graph input shape" in str(body["error"]), body
    assert await versions_of_next_traffic("e") == Counter({"1": 50})
    assert post(worker, "/models/other/reload")[0] == 404


async def produce_raw(d: Deployment, value: bytes) -> None:
    await d.produce([(None, value)], topic=d.control_topic)


def denied(worker: WorkerProcess) -> float:
    """Control commands the worker ignored, whatever the reason."""
    metrics = scrape_metrics(worker.web_url)
    return sum(v for k, v in metrics.items() if k.startswith("streamrec_admin_denied_total")
               and 'via="control"' in k)  # fmt: skip


def outputs_by_event(outputs: list[ConsumerRecord[bytes, bytes]]) -> dict[str, dict[str, Any]]:
    decoded = (msgspec.json.decode(o.value) for o in outputs)
    return {v["event_id"]: v for v in decoded}


async def test_a_canary_gets_its_share_of_users_on_every_event_and_after_a_restart(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = make_registry(tmp_path, "1", "2")
    d = deployment_factory(
        STREAMREC_MODEL_DIR=str(registry), STREAMREC_MODEL_VERSION="1", STREAMREC_CANARY="2:20"
    )
    await d.create_topics()
    worker = d.start_worker()
    traffic = make_traffic(10_000, 2, catalogue())
    report = await d.verify(traffic, within_s=180)
    assert report.ok and report.duplicates == 0, report.summary()

    by_event = outputs_by_event(await d.consume(d.output_topic, traffic.n_valid))
    variant: dict[str, str] = {}
    for user, event_ids in traffic.valid.items():
        seen = {by_event[e]["variant"] for e in event_ids}
        assert len(seen) == 1, (user, seen)  # sticky across the user's events
        variant[user] = seen.pop()
    for out in by_event.values():
        assert out["model_version"] == {"main": "1", "canary": "2"}[out["variant"]], out
    share = sum(v == "canary" for v in variant.values()) / len(variant)
    assert abs(share - 0.20) <= 0.02, share

    # The operator's view during the canary (quoted in the closing note).
    status, models = d.get_json(worker, "/models/")
    print("GET /models/ during a 20% canary:", msgspec.json.encode(models).decode())
    assert status == 200 and isinstance(models, dict)
    arms = {a["variant"]: a for a in models["arms"]}
    assert (arms["main"]["version"], arms["main"]["traffic_percent"]) == ("1", 80.0)
    assert (arms["canary"]["version"], arms["canary"]["traffic_percent"]) == ("2", 20.0)
    assert arms["canary"]["live"]["updates"] == sum(
        o["variant"] == "canary" for o in by_event.values()
    )
    assert abs(arms["canary"]["live"]["observed_percent"] - 100 * share) < 0.01
    for arm in arms.values():
        assert arm["live"]["errors"] == 0 and arm["live"]["prequential_events"] > 0
    # The models command shows the same arms next to the versions' offline metrics.
    listing = (
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "faust", "-A", "app", "models", "--url", worker.web_url],
            env=worker.env, capture_output=True, text=True, timeout=60, check=True,
        )
    ).stdout  # fmt: skip
    print(listing)
    lines = {line.split()[0]: line for line in listing.splitlines() if line.strip()}
    assert "main 80%" in lines["1"] and "0.2131" in lines["1"], listing
    assert "canary 20%" in lines["2"], listing

    # After a restart (same data dir) every user is still on the same arm.
    worker.stop()
    d.start_worker(data_dir=worker.env["STREAMREC_DATA_DIR"])
    again = [
        (user.encode(), msgspec.json.encode(
            {"user_id": user, "item_id": "50", "event": "view", "event_id": f"{user}-again"}))
        for user in traffic.valid
    ]  # fmt: skip
    await d.produce(again)
    after = outputs_by_event(await d.consume(d.output_topic, traffic.n_valid + len(again)))
    moved = [u for u in traffic.valid if after[f"{u}-again"]["variant"] != variant[u]]
    assert moved == []


async def test_shadow_updates_go_to_the_shadow_topic_only(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = make_registry(tmp_path, "1", "2")
    d = deployment_factory(
        STREAMREC_MODEL_DIR=str(registry), STREAMREC_MODEL_VERSION="1", STREAMREC_SHADOW="2"
    )
    await d.create_topics()
    # Created beforehand, not by the worker's first batch: on the embedded broker, a shadow topic
    # the worker created made the first produce to the main topic fail for 40 s (NotLeader)
    # about one run in ten, and the retry duplicated the batch (at-least-once, not the subject).
    await ensure_topics(d.brokers, [d.output_topic + ".shadow"], PARTITIONS)
    worker = d.start_worker()
    traffic = make_traffic(10, 5, catalogue())
    report = await d.verify(traffic)
    assert report.ok and report.duplicates == 0, report.summary()

    main = outputs_by_event(await d.consume(d.output_topic, traffic.n_valid, settle=1.0))
    shadow_records = await d.consume(d.output_topic + ".shadow", traffic.n_valid, settle=1.0)
    shadow = outputs_by_event(shadow_records)
    assert len(shadow_records) == len(shadow) == traffic.n_valid
    assert {(o["variant"], o["model_version"]) for o in main.values()} == {("main", "1")}
    assert {(o["variant"], o["model_version"]) for o in shadow.values()} == {("shadow", "2")}
    assert set(shadow) == set(main)
    # Same features, same weights (version 2 is a copy): the shadow ranks like main.
    assert all(shadow[e]["items"] == main[e]["items"] for e in main)
    # The latest-update view is the main arm's.
    user = next(iter(traffic.valid))
    assert d.get_json(worker, f"/recommendations/{user}/")[1]["variant"] == "main"  # type: ignore[index]
    _, models = d.get_json(worker, "/models/")
    arms = {a["variant"]: a for a in models["arms"]}  # type: ignore[index]
    assert arms["shadow"]["live"]["updates"] == traffic.n_valid
    shadow_judged = arms["shadow"]["live"]["prequential_events"]
    assert shadow_judged == arms["main"]["live"]["prequential_events"] > 0


async def test_a_swap_under_load_switches_once_per_partition_and_loses_nothing(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = make_registry(tmp_path, "1")
    # The new version is found by the registry poll; the rollback comes on the control topic.
    d = deployment_factory(
        STREAMREC_MODEL_DIR=str(registry), STREAMREC_MODEL_POLL_S="0.5",
        STREAMREC_ADMIN_TOKEN=ADMIN_TOKEN,
    )  # fmt: skip
    await d.create_topics()
    worker = d.start_worker()

    def serving() -> str:
        _, models = d.get_json(worker, "/models/")
        return str(models["arms"][0]["version"])  # type: ignore[index]

    traffic = make_traffic(40, 150, catalogue())  # 6,000 events at 400/s: 15 s of traffic
    sending = asyncio.create_task(send(d.brokers, d.input_topic, traffic, rate=400))
    await asyncio.sleep(2.0)
    add_version(registry, "2")
    assert await asyncio.to_thread(wait_for, lambda: serving() == "2", 10.0)
    await asyncio.sleep(2.0)
    assert not sending.done(), "traffic ended before the rollback: the test proves nothing"
    # Unsigned and wrongly signed commands are ignored (and counted); the signed one is obeyed.
    await produce_raw(d, b'{"model": "itemsvd", "action": "rollback"}')
    await send_command(d.brokers, d.control_topic, ModelCommand("itemsvd", "rollback"),
                       AdminAuth("not-the-token"))  # fmt: skip
    assert await asyncio.to_thread(wait_for, lambda: denied(worker) == 2.0, 10.0)
    assert serving() == "2"
    await send_command(d.brokers, d.control_topic, ModelCommand("itemsvd", "rollback"),
                       AdminAuth(ADMIN_TOKEN))  # fmt: skip
    assert await asyncio.to_thread(wait_for, lambda: serving() == "1", 10.0)
    assert not sending.done()
    await sending

    report = await d.verify(traffic, rate=-1)
    assert report.ok and report.duplicates == 0 and not report.dlq_by_reason, report.summary()
    outputs = await d.consume(d.output_topic, traffic.n_valid)
    runs: dict[int, list[str]] = {}
    for o in sorted(outputs, key=lambda o: (o.partition, o.offset)):
        versions = runs.setdefault(o.partition, [])
        version = msgspec.json.decode(o.value)["model_version"]
        if not versions or versions[-1] != version:
            versions.append(version)
    assert set(map(tuple, runs.values())) == {("1", "2", "1")}, runs
    metrics = http_get(worker.web_url + "/metrics")[1].decode()
    assert 'streamrec_model_loads_total{result="failure"} 0.0' in metrics
    assert 'streamrec_variant_errors_total{variant="main"} 0.0' in metrics


async def test_a_canary_is_started_widened_and_promoted_at_run_time_and_survives_a_restart(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    registry = make_registry(tmp_path, "1", "2")
    d = deployment_factory(STREAMREC_MODEL_DIR=str(registry), STREAMREC_ADMIN_TOKEN=ADMIN_TOKEN)
    await d.create_topics()
    worker = d.start_worker()
    users = [f"rollout-user-{n}" for n in range(2_000)]
    rounds: list[str] = []

    async def arms_of_next_events() -> dict[str, tuple[str, str]]:
        """One event per user; each user's (variant, model version) in its update."""
        run = f"r{len(rounds)}"
        rounds.append(run)
        await d.produce([
            (u.encode(), msgspec.json.encode(
                {"user_id": u, "item_id": "50", "event": "view", "event_id": f"{u}-{run}"}))
            for u in users
        ])  # fmt: skip
        outputs = outputs_by_event(await d.consume(d.output_topic, len(users) * len(rounds)))
        return {u: (outputs[f"{u}-{run}"]["variant"], outputs[f"{u}-{run}"]["model_version"])
                for u in users}  # fmt: skip

    def send(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "faust", "-A", "app", "models", *args],
            env=worker.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def shows(predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """/models/ once ``predicate`` holds for it (the command reached the worker)."""
        seen: dict[str, Any] = {}

        def check() -> bool:
            status, body = d.get_json(worker, "/models/")
            seen.update(body if status == 200 and isinstance(body, dict) else {})
            return bool(seen) and predicate(seen)

        assert wait_for(check, timeout=60), seen
        return seen

    def arms(models: dict[str, Any]) -> dict[str, tuple[str, float, bool]]:
        return {a["variant"]: (a["version"], a["traffic_percent"], a["serving"])
                for a in models["arms"]}  # fmt: skip

    assert set((await arms_of_next_events()).values()) == {("main", "2")}

    # Start a canary of version 1 for 20% of the users, without a restart.
    print(send("--canary", "1:20"))
    shows(lambda m: arms(m).get("canary") == ("1", 20.0, True))
    at_20 = await arms_of_next_events()
    canary_20 = {u for u, (variant, _) in at_20.items() if variant == "canary"}
    assert canary_20 == {u for u in users if canary_bucket(u, "1") < 20}
    assert {arm for arm in at_20.values()} == {("main", "2"), ("canary", "1")}

    # Widen it: the users already in stay in.
    send("--canary", "1:40")
    shows(lambda m: arms(m).get("canary") == ("1", 40.0, True))
    at_40 = await arms_of_next_events()
    canary_40 = {u for u, (variant, _) in at_40.items() if variant == "canary"}
    assert canary_20 < canary_40 == {u for u in users if canary_bucket(u, "1") < 40}

    # A restarted worker reads the rollout state from the control topic before serving.
    worker.stop()
    worker = d.start_worker(data_dir=worker.env["STREAMREC_DATA_DIR"])
    models = shows(lambda m: "canary" in arms(m))
    assert arms(models)["canary"] == ("1", 40.0, True), models
    assert models["rollout"]["canary"] == "1" and models["rollout"]["canary_percent"] == 40.0
    assert await arms_of_next_events() == at_40
    listing = send("--url", worker.web_url)
    assert '"canary":"1","canary_percent":40.0' in listing, listing

    # Promote: version 1 is the main version for everyone (over the newer version 2).
    print(send("--promote"))
    models = shows(lambda m: "canary" not in arms(m) and arms(m)["main"][0] == "1")
    print("GET /models/ after the promotion:", msgspec.json.encode(models["rollout"]).decode())
    assert models["rollout"]["promoted"] == "1"
    assert set((await arms_of_next_events()).values()) == {("main", "1")}
    # Nothing to promote or abort now: the command says so and is not sent.
    refused = subprocess.run(
        [sys.executable, "-m", "faust", "-A", "app", "models", "--abort"],
        env=worker.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "there is no canary" in refused.stderr, refused.stderr
