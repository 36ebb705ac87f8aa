"""``faust -A app verify`` against a running worker, between two halves of a MovieLens slice:
its events are served (updates, the latest view) but marked synthetic, so trending counts
only MovieLens (no window of today, no later MovieLens event late), the prequential counters
do not move for them, and ``retrain`` skips them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.training.movielens import Rating, load_ratings
from devtools.net import metric_value
from tests.support.deployment import Deployment
from tests.support.paths import MODELS, ROOT
from tests.support.waiting import wait_for

DAY = 86_400
SETTINGS = {
    "STREAMREC_TRENDING": "true",
    "STREAMREC_TRENDING_WINDOW_S": str(7 * DAY),
    "STREAMREC_TRENDING_STEP_S": str(DAY),
    "STREAMREC_TRENDING_RETENTION_S": str(10_000 * DAY),  # every MovieLens window is kept
    # Batches of the input's partitions reach a by-item partition in any order: a few days'
    # grace keeps the slice's own events in time; verify's (today) would be 28 years ahead.
    "STREAMREC_TRENDING_GRACE_S": str(7 * DAY),
    "STREAMREC_TRENDING_TOP_N": "50",
    "STREAMREC_TRENDING_PUBLISH_S": "1",
}
USERS, PER_USER = 20, 10


def records(ratings: list[Rating]) -> list[tuple[bytes | None, bytes | None]]:
    return [
        (r.user_id.encode(), msgspec.json.encode(
            {"user_id": r.user_id, "item_id": r.item_id, "event": "rate", "rating": r.rating,
             "ts": r.ts, "event_id": f"ml-{r.user_id}-{r.item_id}"}))
        for r in ratings
    ]  # fmt: skip


async def faust(d: Deployment, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "faust", "-A", "app", *args],
        cwd=ROOT, env={**d.env(0, 0), **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


async def test_verify_is_served_but_left_out_of_trending_quality_and_retraining(
    deployment_factory: Callable[..., Deployment], tmp_path: Path
) -> None:
    ratings = sorted(load_ratings(), key=lambda r: r.ts)[:3000]
    before, after = ratings[:2000], ratings[2000:]
    d = deployment_factory(**SETTINGS)
    await d.create_topics()
    worker = d.start_worker()
    url = worker.web_url

    def metric(name: str) -> float:
        return metric_value(url, name)

    await d.produce(records(before))
    assert wait_for(lambda: metric("streamrec_events_in_total") >= len(before), 120)
    judged, served = (
        metric("streamrec_prequential_events_total"),
        metric("streamrec_recommendations_out_total"),
    )

    done = await faust(d, "verify", "--users", str(USERS), "--per-user", str(PER_USER),
                       "--rate", "0", "--timeout", "180")  # fmt: skip
    print(done.stdout, done.stderr[-3000:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.rstrip().endswith(": OK"), done.stdout
    assert "marked streamrec.synthetic: verify" in done.stdout
    run = done.stdout.split("run ", 1)[1].split(":", 1)[0]
    sent = int(done.stdout.split("sending ", 1)[1].split(" ", 1)[0])
    # Served: an update per valid event, and each of verify's users has a latest update...
    assert metric("streamrec_recommendations_out_total") == served + USERS * PER_USER
    status, latest = d.get_json(worker, f"/recommendations/{run}-u0/")
    assert status == 200 and isinstance(latest, dict), latest
    assert latest["event_id"] == f"{run}:{run}-u0:{PER_USER - 1}"
    # ...but none of them was judged, although every user had recommendations after its first.
    assert metric("streamrec_prequential_events_total") == judged

    await d.produce(records(after))
    # Each user's first event has nothing to be judged against; every later one is judged.
    want_judged = len(ratings) - len({r.user_id for r in ratings})
    assert wait_for(lambda: metric("streamrec_prequential_events_total") == want_judged, 120)
    counter = ("streamrec_trending_events_total", "streamrec_trending_late_total")
    assert wait_for(lambda: sum(map(metric, counter)) >= len(ratings), 60)
    # Only MovieLens reached the count, none of it late: verify's "now" moved no window.
    assert [metric(name) for name in counter] == [len(ratings), 0]
    newest = max(r.ts for r in ratings) // DAY * DAY
    current = newest - 7 * DAY + DAY
    in_window = Counter(r.item_id for r in ratings if current <= r.ts < current + 7 * DAY)
    want = sorted(in_window.items(), key=lambda ic: (-ic[1], ic[0]))[:50]

    def trending() -> dict[str, object]:
        status, view = d.get_json(worker, "/trending/?n=50")
        return view if status == 200 and isinstance(view, dict) else {}

    def settled() -> bool:
        view = trending()
        return [(i["item_id"], i["count"]) for i in view.get("items", [])] == want  # type: ignore[attr-defined]

    assert wait_for(settled, 60), (trending(), want)
    view = trending()
    assert view["window"] == {"start": current, "end": current + 7 * DAY}
    assert max(view["windows"]) == newest  # type: ignore[type-var]

    # retrain reads the whole topic: verify's records are counted apart, not learned from.
    registry = tmp_path / "registry"
    shutil.copytree(MODELS / "itemsvd" / "1", registry / "itemsvd" / "1")
    retrained = await faust(d, "retrain", STREAMREC_MODEL_DIR=str(registry))
    print(retrained.stdout, retrained.stderr[-2000:])
    read = next(line for line in retrained.stdout.splitlines() if line.startswith("read "))
    assert f"read {len(ratings) + sent:,} records" in read, read
    assert f"{len(ratings):,} interactions" in read and f"'synthetic': {sent}" in read, read
