"""Traffic arms: a sticky, monotone canary share; candidates that fail leave users on main;
the registry poll loads a new version once and does not undo a rollback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from app.errors import ModelLoadError
from app.inference.manifest import MANIFEST_FILE
from app.inference.registry import ModelRegistry
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from app.pipeline.variants import CANARY, MAIN, SHADOW, canary_bucket
from app.rollout.arms import Rollout
from app.rollout.state import RolloutState
from app.settings import Settings
from tests.support.paths import MODELS, ROOT
from tests.support.versions import add_version, copy_model

USERS = [f"user-{n}" for n in range(10_000)]


def test_the_canary_share_is_within_a_point_of_the_percent() -> None:
    for percent in (1.0, 20.0, 50.0):
        share = sum(canary_bucket(u, "2") < percent for u in USERS) / len(USERS)
        assert abs(100 * share - percent) < 1.0, (percent, share)


def test_raising_the_percent_keeps_the_users_already_in_and_versions_draw_anew() -> None:
    at_5 = {u for u in USERS if canary_bucket(u, "2") < 5}
    at_20 = {u for u in USERS if canary_bucket(u, "2") < 20}
    assert at_5 < at_20
    other = {u for u in USERS if canary_bucket(u, "3") < 20}
    assert len(other & at_20) < 0.3 * len(at_20)  # independent draw: ~20% overlap


def test_the_bucket_is_the_same_in_another_process() -> None:
    # Python's hash() of a str changes per process; the canary must not.
    code = "from app.pipeline.variants import canary_bucket; print(canary_bucket('u42', '2'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=ROOT,
    )  # fmt: skip
    assert float(out.stdout) == canary_bucket("u42", "2")


@pytest.mark.parametrize("value", ["2", "2:", ":20", "2:101", "2:-1", "2:x"])
def test_a_malformed_canary_setting_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="canary"):
        Settings(canary=value)


def test_a_canary_setting_splits_into_version_and_percent() -> None:
    assert Settings(canary="2:20").canary_split == ("2", 20.0)
    assert Settings(canary="v1:2:7.5").canary_split == ("v1:2", 7.5)
    assert Settings().canary_split is None


def rollout(
    tmp_path: Path, canary: tuple[str, float] | None = None, shadow: str | None = None
) -> tuple[Rollout, CollectorRegistry]:
    samples = CollectorRegistry()
    metrics = AppMetrics.create(samples)
    registry = ModelRegistry(tmp_path)
    main = ServedModel(registry, "itemsvd", metrics, retire_after_s=0)
    return Rollout(main, registry, metrics, canary=canary, shadow=shadow), samples


async def test_arms_route_the_canary_share_and_the_shadow_sees_all(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=False)
    r, samples = rollout(tmp_path, canary=("1", 20.0), shadow="2")
    await r.main.load()
    await r.load_candidates()
    arms = r.arms()
    assert (arms.main.version, arms.canary and arms.canary.version) == ("2", "1")
    assert arms.shadow is not None and arms.shadow.version == "2"
    variants = [arms.variant_of(u) for u in USERS[:2000]]
    assert variants == [CANARY if canary_bucket(u, "1") < 20 else MAIN for u in USERS[:2000]]
    assert 0.17 < variants.count(CANARY) / 2000 < 0.23
    info = {
        variant: samples.get_sample_value(
            "streamrec_model_info", {"name": "itemsvd", "version": v, "variant": variant}
        )
        for variant, v in ((MAIN, "2"), (CANARY, "1"), (SHADOW, "2"))
    }
    assert info == {MAIN: 1, CANARY: 1, SHADOW: 1}
    report = r.report(samples, "recs", "recs.shadow")
    assert [(a["variant"], a["version"], a["traffic_percent"]) for a in report["arms"]] == [
        (MAIN, "2", 80.0), (CANARY, "1", 20.0), (SHADOW, "2", 0.0)
    ]  # fmt: skip
    assert report["arms"][2]["output_topic"] == "recs.shadow"
    assert [v["version"] for v in report["versions"]] == ["1", "2"]
    assert "test" in report["versions"][0]["metrics"]


async def test_a_canary_that_does_not_load_leaves_its_users_on_main(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=True)
    r, samples = rollout(tmp_path, canary=("2", 50.0))
    await r.main.load()
    await r.load_candidates()
    arms = r.arms()
    assert arms.canary is None and {arms.variant_of(u) for u in USERS[:200]} == {MAIN}
    assert "itemsvd/2" in r.load_errors[CANARY]
    report = r.report(samples, "recs", "recs.shadow")
    assert report["arms"][0]["traffic_percent"] == 100.0
    assert report["arms"][1]["serving"] is False and "error" in report["arms"][1]
    assert samples.get_sample_value("streamrec_model_loads_total", {"result": "failure"}) == 2


async def test_the_poll_tries_each_new_version_once_and_keeps_a_rollback(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    r, _ = rollout(tmp_path)
    await r.main.load()
    await r.poll()
    assert r.arms().main.version == "1"
    add_version(tmp_path, "2", corrupt=False)
    await r.poll()
    assert r.arms().main.version == "2"
    await r.main.rollback()
    await r.poll()
    assert r.arms().main.version == "1"  # the rollback stands
    add_version(tmp_path, "3", corrupt=True)
    await r.poll()
    await r.poll()
    assert r.arms().main.version == "1"
    # A version reloaded by hand and rolled back before the poll looked is not reloaded.
    add_version(tmp_path, "4", corrupt=False)
    await r.main.reload()
    await r.main.rollback()
    await r.poll()
    assert r.arms().main.version == "1"


def test_a_model_whose_feature_spec_the_stream_cannot_produce_is_refused(
    tmp_path: Path,
) -> None:
    path = copy_model(tmp_path, "1")
    manifest = msgspec.json.decode((path / MANIFEST_FILE).read_bytes())
    manifest["feature_spec"]["max_len"] = 30  # the graph reads 20 columns
    (path / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    with pytest.raises(ModelLoadError, match=r"graph input shape \['batch', 20\]"):
        ModelRegistry(tmp_path).load("itemsvd", "1")
    manifest["feature_spec"] = {"kind": "session_graph", "max_len": 20}
    (path / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    with pytest.raises(ModelLoadError, match="needs feature builder 'session_graph'"):
        ModelRegistry(tmp_path).load("itemsvd", "1")


def test_a_two_input_model_needs_a_builder_for_each_input(tmp_path: Path) -> None:
    shutil.copytree(MODELS / "itemsvd-rated" / "1", tmp_path / "itemsvd-rated" / "1")
    path = tmp_path / "itemsvd-rated" / "1"
    scorer = ModelRegistry(tmp_path).load("itemsvd-rated")
    assert scorer.builders == {"history": "recent_items", "ratings": "recent_ratings"}
    scorer.warm_up()
    scorer.close()
    manifest = msgspec.json.decode((path / MANIFEST_FILE).read_bytes())
    del manifest["feature_spec"]["inputs"]["ratings"]
    (path / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    with pytest.raises(ModelLoadError, match="input 'ratings' has no feature builder"):
        ModelRegistry(tmp_path).load("itemsvd-rated")
    manifest["feature_spec"]["inputs"]["ratings"] = "recent_event_types"  # INT64, not FP32
    (path / MANIFEST_FILE).write_bytes(msgspec.json.encode(manifest))
    with pytest.raises(ModelLoadError, match="builder 'recent_event_types' makes INT64"):
        ModelRegistry(tmp_path).load("itemsvd-rated")


async def test_a_rollout_state_starts_changes_promotes_and_aborts_a_canary(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=False)
    r, samples = rollout(tmp_path)
    await r.load_main(wait_s=0)  # no control topic read: starts with the settings' state
    assert r.arms().main.version == "2" and r.arms().canary is None
    state = r.state.apply("canary", "1:30", ts=1.0)
    await r.apply(state)
    arms = r.arms()
    assert arms.canary is not None and arms.canary.version == "1"
    assert arms.canary_percent == 30.0 and arms.main.version == "2"
    in_canary = {u for u in USERS if arms.variant_of(u) == CANARY}
    await r.apply(state := state.apply("canary", "1:50", ts=2.0))
    assert in_canary < {u for u in USERS if r.arms().variant_of(u) == CANARY}  # sticky
    await r.apply(state := state.apply("promote", "1", ts=3.0))
    assert (r.arms().main.version, r.arms().canary) == ("1", None)
    await r.poll()
    assert r.arms().main.version == "1"  # the promotion stands
    add_version(tmp_path, "3", corrupt=False)
    await r.apply(state := state.apply("canary", "3:10", ts=4.0))
    await r.poll()  # the new newest version is under test, not main
    assert (r.arms().main.version, r.arms().canary.version) == ("1", "3")  # type: ignore[union-attr]
    await r.apply(state := state.apply("abort", "3", ts=5.0))
    await r.poll()
    assert (r.arms().main.version, r.arms().canary) == ("1", None)
    report = r.report(samples, "recs", "recs.shadow")
    shown = report["rollout"]
    assert (shown["canary"], shown["promoted"], shown["refused"]) == (None, "1", ["3"])
    assert [(d["action"], d["version"]) for d in shown["decisions"]] == [
        ("promote", "1"), ("abort", "3")
    ]  # fmt: skip
    await r.apply(state.apply("reload", "", ts=6.0), reload=True)
    assert r.arms().main.version == "2"  # the newest not refused


async def test_a_worker_starting_mid_rollout_loads_what_the_state_says(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=False)
    add_version(tmp_path, "3", corrupt=False)
    r, _ = rollout(tmp_path)
    state = RolloutState().apply("canary", "3:10", ts=1.0)
    await r.apply(state)  # the control topic is read before the first load
    await r.load_main(wait_s=1)
    await r.load_candidates()
    arms = r.arms()
    assert arms.main.version == "2" and arms.canary is not None and arms.canary.version == "3"


async def test_a_canary_version_that_does_not_load_leaves_users_on_main(tmp_path: Path) -> None:
    copy_model(tmp_path, "1")
    add_version(tmp_path, "2", corrupt=True)
    r, _ = rollout(tmp_path)
    await r.load_main(wait_s=0)
    await r.apply(RolloutState().apply("canary", "2:50", ts=1.0))
    assert r.arms().canary is None and "itemsvd/2" in r.load_errors[CANARY]
    assert {r.arms().variant_of(u) for u in USERS[:100]} == {MAIN}
