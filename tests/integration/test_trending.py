"""Trending items on two real workers: a MovieLens slice is counted per item in hopping
event-time windows, either worker's ``GET /trending/`` answers the offline count, and a user
the model cannot read is answered from the trends (in the stream and by the inference API)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import msgspec

from app.training.movielens import Rating, load_ratings
from devtools.net import http_post, scrape_metrics
from tests.support.deployment import Deployment
from tests.support.waiting import wait_for

DAY = 86_400
SLICE = 20_000
TOP = 20
SETTINGS = {
    "STREAMREC_TRENDING": "true",
    "STREAMREC_TRENDING_WINDOW_S": str(7 * DAY),
    "STREAMREC_TRENDING_STEP_S": str(DAY),
    "STREAMREC_TRENDING_RETENTION_S": str(28 * DAY),
    # Two workers' batches reach a by-item partition in any order: none is late here.
    "STREAMREC_TRENDING_GRACE_S": str(365 * DAY),
    "STREAMREC_TRENDING_TOP_N": str(TOP),
    "STREAMREC_TRENDING_PUBLISH_S": "1",
}


def offline(ratings: list[Rating], start: float, size: float) -> list[dict[str, object]]:
    """The top items of the window [start, start + size), counted directly."""
    counts = Counter(r.item_id for r in ratings if start <= r.ts < start + size)
    top = sorted(counts.items(), key=lambda ic: (-ic[1], ic[0]))[:TOP]
    return [{"item_id": i, "count": c} for i, c in top]


async def test_either_worker_answers_the_offline_count_and_cold_users_get_the_trends(
    deployment_factory: Callable[..., Deployment],
) -> None:
    ratings = load_ratings()[:SLICE]
    d = deployment_factory(**SETTINGS)
    await d.create_topics()
    workers = [d.start_worker(wait=False), d.start_worker(wait=False)]
    for w in workers:
        w.wait_ready()
    records = []
    for r in ratings:
        value = {"user_id": r.user_id, "item_id": r.item_id, "event": "rate",
                 "rating": r.rating, "ts": r.ts}  # fmt: skip
        records.append((r.user_id.encode(), msgspec.json.encode(value)))
    await d.produce(records)

    # Expected: the current window (the last 7 days up to the newest day) and every window
    # kept (those ending within 28 days of the newest day's end).
    newest = max(r.ts for r in ratings) // DAY * DAY
    current = newest - 7 * DAY + DAY
    kept = [s for s in range(int(newest), 0, -DAY) if s + 7 * DAY > newest + DAY - 28 * DAY]
    kept = [s for s in kept if any(s <= r.ts < s + 7 * DAY for r in ratings)]

    def answer(w: object, query: str = "") -> dict[str, object]:
        status, body = d.get_json(w, f"/trending/?n={TOP}{query}")  # type: ignore[arg-type]
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    # Reports come every second and a partition's newest claim wins, so the answers settle
    # within seconds of the last count: poll until every window checked is right.
    checked = [None, *kept[::7]]

    def mismatches() -> list[tuple[object, int, list[object], list[object]]]:
        wrong = []
        for start in checked:
            want = offline(ratings, current if start is None else start, 7 * DAY)
            for n, w in enumerate(workers):
                query = "" if start is None else f"&window={start}"
                _, view = d.get_json(w, f"/trending/?n={TOP}{query}")  # 404 until counted
                if (
                    not isinstance(view, dict)
                    or view.get("items") != want
                    or view.get("partitions") != {"reported": 4, "of": 4}
                ):
                    wrong.append((start, n, view, want))
        return wrong

    assert wait_for(lambda: not mismatches(), 120, 0.5), mismatches()
    for w in workers:
        view = answer(w)
        assert view["window"] == {"start": current, "end": current + 7 * DAY}
        assert view["windows"] == [float(s) for s in kept]
    counted = sum(scrape_metrics(w.web_url)["streamrec_trending_events_total"] for w in workers)
    assert counted == SLICE
    assert sum(scrape_metrics(w.web_url)["streamrec_trending_late_total"] for w in workers) == 0
    status, _ = d.get_json(workers[0], f"/trending/?window={kept[-1] - DAY}")
    assert status == 404
    status, _ = d.get_json(workers[0], "/trending/?n=0")
    assert status == 400

    # Cold start: a new user whose only item no model knows gets the current window's top
    # items (what they saw left out), from the stream and from the inference API.
    trending = [i["item_id"] for i in offline(ratings, current, 7 * DAY)][:10]
    event = {"user_id": "newcomer", "item_id": "no-such-item", "event": "view",
             "ts": max(r.ts for r in ratings)}  # fmt: skip
    await d.produce([(b"newcomer", msgspec.json.encode(event))])
    assert wait_for(lambda: d.get_json(workers[1], "/recommendations/newcomer/")[0] == 200, 60)
    _, update = d.get_json(workers[1], "/recommendations/newcomer/")
    assert isinstance(update, dict) and update["source"] == "trending"
    assert [i["item_id"] for i in update["items"]] == trending
    request = {"inputs": [{"name": "history", "shape": [0], "datatype": "BYTES", "data": []}]}
    status, body, _ = http_post(workers[0].web_url + "/v2/models/itemsvd/infer",
                                msgspec.json.encode(request))  # fmt: skip
    answer = msgspec.json.decode(body)
    assert status == 200, answer
    assert answer["parameters"] == {"source": "trending"}
    assert answer["outputs"][0]["data"] == trending
    # A known user still gets the model's answer.
    _, known = d.get_json(workers[0], f"/recommendations/{ratings[-1].user_id}/")
    assert isinstance(known, dict) and known["source"] == "model"
