"""Lag-aware degradation on real workers: a MovieLens backlog older than DEGRADE_LAG_S is
worked through degraded (one update per user per batch, the updates left out counted, a log
line); once it has caught up, with no event after the backlog, ``streamrec_degraded`` is back
to 0; and every user's last update answers their last event with the items a worker without
degradation gives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec

from app.training.movielens import load_ratings
from devtools.net import scrape_metrics
from devtools.processes import WorkerProcess
from devtools.reader import Records, read_topics
from tests.support.deployment import Deployment
from tests.support.waiting import wait_for

BACKLOG = 30_000


def backlog() -> tuple[list[tuple[bytes, bytes]], dict[str, str]]:
    """The first ratings of ml-100k with event ids, and each user's last event id."""
    records, last = [], {}
    for n, r in enumerate(load_ratings()[:BACKLOG]):
        event_id = f"e{n}"
        value = {"user_id": r.user_id, "item_id": r.item_id, "event": "rate",
                 "rating": r.rating, "ts": r.ts, "event_id": event_id}  # fmt: skip
        records.append((r.user_id.encode(), msgspec.json.encode(value)))
        last[r.user_id] = event_id
    return records, last


async def last_updates(d: Deployment, last: dict[str, str]) -> dict[str, dict[str, object]]:
    """Each user's last update, once every user's last event has been answered."""
    newest: dict[str, dict[str, object]] = {}
    read = 0

    def answered(got: Records) -> bool:
        nonlocal read
        for record in got[read:]:
            update = msgspec.json.decode(record.value)
            newest[update["user_id"]] = update
        read = len(got)
        return all(newest.get(u, {}).get("event_id") == e for u, e in last.items())

    await read_topics(d.brokers, [d.output_topic], answered, within_s=240, check_every_s=1.0)
    return newest


def degraded(worker: WorkerProcess) -> float | None:
    return scrape_metrics(worker.web_url).get("streamrec_degraded")


async def test_a_backlog_is_worked_through_degraded_with_every_users_last_update_unchanged(
    deployment_factory: Callable[..., Deployment],
) -> None:
    records, last = backlog()
    plain, lagging = deployment_factory(), deployment_factory(STREAMREC_DEGRADE_LAG_S="2")
    for d in (plain, lagging):
        await d.create_topics()
        await d.produce(records)
    # The workers start after the backlog was sent: its every event has waited past 2 s
    # (the first group join alone takes half the 10 s session timeout).
    workers = [d.start_worker(wait=False) for d in (plain, lagging)]
    for w in workers:
        w.wait_ready()
    expected, got = await asyncio.gather(last_updates(plain, last), last_updates(lagging, last))

    assert {u: v["event_id"] for u, v in got.items()} == last  # each user's last event
    assert {u: v["items"] for u, v in got.items()} == {u: v["items"] for u, v in expected.items()}
    plain_w, lagging_w = workers
    metrics = scrape_metrics(lagging_w.web_url)
    coalesced = metrics["streamrec_coalesced_updates_total"]
    assert 0 < coalesced < BACKLOG
    assert metrics["streamrec_recommendations_out_total"] + coalesced == BACKLOG
    assert scrape_metrics(plain_w.web_url)["streamrec_recommendations_out_total"] == BACKLOG
    assert "degraded: the oldest event of a batch waited" in lagging_w.log.read_text()
    for user in sorted(last)[:5]:
        s1, ours = lagging.get_json(lagging_w, f"/recommendations/{user}/")
        s2, theirs = plain.get_json(plain_w, f"/recommendations/{user}/")
        assert s1 == s2 == 200 and isinstance(ours, dict) and isinstance(theirs, dict)
        ours.pop("emitted_ts"), theirs.pop("emitted_ts")
        assert ours == theirs

    # The backlog is worked through and no event comes: no batch to judge the wait by, and
    # degradation still ends, once the worker has caught up (its lag is 0).
    drained = time.monotonic()
    assert await asyncio.to_thread(wait_for, lambda: degraded(lagging_w) == 0, 30)
    print(f"degradation ended {time.monotonic() - drained:.1f} s after the backlog's last update")
    assert "no longer degraded: caught up" in lagging_w.log.read_text()
