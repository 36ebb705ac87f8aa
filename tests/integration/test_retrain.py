"""``faust -A app retrain`` on a topic holding ml-100k plus the malformed corpus: the same
model as ``train`` on the files, bad records skipped and counted by the stream's reasons,
and a version worse than the serving one refused."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.inference.manifest import MANIFEST_FILE
from app.training.movielens import load_ratings
from devtools.verify.corpus import malformed_records
from tests.support.deployment import Deployment
from tests.support.paths import MODELS, ROOT


def manifest(path: Path) -> dict[str, object]:
    return msgspec.json.decode((path / MANIFEST_FILE).read_bytes())  # type: ignore[no-any-return]


async def retrain(
    d: Deployment, registry: Path, name: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**d.env(0, 0), "STREAMREC_MODEL_DIR": str(registry), "STREAMREC_MODEL_NAME": name}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "faust", "-A", "app", "retrain", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


async def faust_models(d: Deployment, registry: Path, name: str) -> str:
    env = {**d.env(0, 0), "STREAMREC_MODEL_DIR": str(registry), "STREAMREC_MODEL_NAME": name}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "faust", "-A", "app", "models", "--url", "http://127.0.0.1:9"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


async def test_retrain_from_the_topic_matches_train_and_refuses_a_worse_version(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    d = deployment_factory()
    await d.create_topics()
    ratings = load_ratings()
    records: list[tuple[bytes | None, bytes | None]] = [
        (r.user_id.encode(), msgspec.json.encode(
            {"user_id": r.user_id, "item_id": r.item_id, "event": "rate", "rating": r.rating,
             "ts": r.ts, "event_id": f"ml-{n}"}))
        for n, r in enumerate(ratings)
    ]  # fmt: skip
    bad = malformed_records(ratings[0].user_id, duplicate_of="ml-0")
    records += [(b.key, b.value) for b in bad]
    await d.produce(records)

    registry = tmp_path / "registry"
    shutil.copytree(MODELS / "itemsvd" / "1", registry / "itemsvd" / "1")
    done = await retrain(d, registry, "itemsvd")
    print(done.stdout, done.stderr[-2000:])
    assert done.returncode == 0, done.stderr
    made = manifest(registry / "itemsvd" / "2")
    offline = manifest(MODELS / "itemsvd" / "1")
    for split in ("valid", "test"):
        for metric in ("hr@10", "ndcg@10", "mrr@10"):
            got = made["metrics"][split][metric]  # type: ignore[index]
            want = offline["metrics"][split][metric]  # type: ignore[index]
            assert abs(got - want) <= 0.005, (split, metric, got, want)
    training = made["training"]
    assert isinstance(training, dict)
    source = training["source"]
    assert source["topic"] == d.input_topic and source["records"] == len(records)
    assert source["interactions"] == len(ratings)
    assert source["skipped"] == dict(Counter(b.reason for b in bad))
    assert sum(last - first + 1 for first, last in source["offsets"].values()) == len(records)
    assert training["algorithm"] == "itemsvd" and training["data"] == f"topic {d.input_topic}"
    assert training["judged_against"]["version"] == "1"
    # Both versions on the same held-out events, printed and recorded: here they are
    # ml-100k's own test events, so version 1 scores what its own manifest says.
    compared = made["metrics"]["compared"]  # type: ignore[index]
    assert compared["events"] == 943 == made["metrics"]["test"]["users"]  # type: ignore[index]
    assert compared["versions"]["2"] == made["metrics"]["test"]  # type: ignore[index]
    for metric, want in offline["metrics"]["test"].items():  # type: ignore[index]
        assert abs(compared["versions"]["1"][metric] - want) < 1e-9, (metric, compared)
    assert "both versions on the same 943 held-out events" in done.stdout
    rows = {line.split()[0]: line.split()[1:4] for line in done.stdout.splitlines()
            if "(serving)" in line or "(new)" in line}  # fmt: skip
    assert rows == {
        v: [f"({role})", f"{compared['versions'][v]['hr@10']:.4f}",
            f"{compared['versions'][v]['ndcg@10']:.4f}"]
        for v, role in (("1", "serving"), ("2", "new"))
    }, done.stdout  # fmt: skip
    assert done.stdout.rstrip().endswith(f"wrote {registry / 'itemsvd' / '2'}")
    # faust -A app models: each version's own figure on its own test set, and under the
    # retrained one the like-for-like line.
    listing = await faust_models(d, registry, "itemsvd")
    print(listing)
    lines = {line.split()[0]: line for line in listing.splitlines() if line.strip()}
    assert "ml-100k, 943 events" in lines["1"] and "0.2131" in lines["1"], listing
    assert f"topic {d.input_topic}, 943 events" in lines["2"], listing
    like = lines["like"]
    assert "like for like on 2's 943 held-out events" in like and "1 0.2131 / 0.1092" in like

    # Serving the hybrid, an itemsvd retrain is worse on the same held-out events: refused.
    shutil.copytree(MODELS / "hybrid" / "2", registry / "hybrid" / "2")
    refused = await retrain(d, registry, "hybrid", "--algorithm", "itemsvd")
    assert refused.returncode == 3, refused.stderr
    assert "worse offline than hybrid/2" in refused.stderr and "not published" in refused.stderr
    assert sorted(p.name for p in (registry / "hybrid").iterdir()) == ["2"]
