"""End to end on the embedded broker: a real worker, real MovieLens events, a plain client."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import msgspec

from devtools.net import http_get
from tests.support.deployment import Deployment
from tests.support.movielens import MovieLensSlice

TOP_K = 10


async def test_every_event_gets_one_correct_update(
    deployment_factory: Callable[..., Deployment], movielens_slice: MovieLensSlice
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker = d.start_worker()
    records = movielens_slice(users=30, per_user=20)
    await d.produce(records)

    outputs = await d.consume(d.output_topic, len(records), settle=2.0)

    sent = [msgspec.json.decode(v) for _, v in records]
    by_event = defaultdict(list)
    for o in outputs:
        by_event[msgspec.json.decode(o.value)["event_id"]].append(o)
    assert set(by_event) == {v["event_id"] for v in sent}
    assert all(len(v) == 1 for v in by_event.values()), "one update per event"

    history: dict[str, list[str]] = defaultdict(list)
    last_output: dict[str, dict[str, object]] = {}
    for v in sent:  # walk the input in order: each output must reflect history up to it
        user = v["user_id"]
        history[user].append(v["item_id"])
        (record,) = by_event[v["event_id"]]
        out = msgspec.json.decode(record.value)
        assert record.key == user.encode()
        assert out["user_id"] == user
        assert (out["model"], out["model_version"]) == ("itemsvd", "1")
        assert out["event_ts"] == v["ts"]
        assert out["emitted_ts"] >= record.timestamp / 1000 - 5
        items = [i["item_id"] for i in out["items"]]
        assert len(items) == TOP_K
        assert not set(items) & set(history[user]), "never an item the user already saw"
        scores = [i["score"] for i in out["items"]]
        assert scores == sorted(scores, reverse=True)
        last_output[user] = out

    # Per-user order on the output topic follows the input order.
    order = {v["event_id"]: i for i, v in enumerate(sent)}
    per_user: dict[bytes, list[int]] = defaultdict(list)
    for o in sorted(outputs, key=lambda o: (o.partition, o.offset)):
        per_user[o.key].append(order[msgspec.json.decode(o.value)["event_id"]])
    assert all(seq == sorted(seq) for seq in per_user.values())

    # Views: the latest update and the state, per user; 404 JSON for a stranger.
    for user, out in last_output.items():
        status, body = d.get_json(worker, f"/recommendations/{user}/")
        assert (status, body) == (200, out)
        status, state = d.get_json(worker, f"/features/{user}/")
        assert status == 200
        assert isinstance(state, dict)
        assert state["recent"] == history[user]
        assert state["n_events"] == len(history[user])
    status, body = d.get_json(worker, "/recommendations/nobody/")
    assert status == 404 and isinstance(body, dict) and "error" in body
    status, _ = d.get_json(worker, "/features/nobody/")
    assert status == 404
    # Trending is off by default, and its view says how to turn it on.
    status, body = d.get_json(worker, "/trending/")
    assert status == 404 and isinstance(body, dict) and "STREAMREC_TRENDING=true" in body["error"]

    status, body = http_get(worker.web_url + "/metrics")
    assert status == 200
    assert f"streamrec_events_in_total {len(records)}.0" in body.decode()
    assert f"streamrec_recommendations_out_total {len(records)}.0" in body.decode()

    status, models = d.get_json(worker, "/models/")
    assert status == 200 and isinstance(models, dict)
    assert models["serving"]["version"] == "1"


async def test_coalescing_gives_one_update_per_user_per_batch(
    deployment_factory: Callable[..., Deployment],
) -> None:
    # Loaded before the worker starts and given a long batch window, the ten events land in
    # one micro-batch (a fetch may bring them in pieces, the window waits for the rest).
    d = deployment_factory(STREAMREC_COALESCE="true", STREAMREC_MAX_WAIT_MS="3000")
    await d.create_topics()
    records = []
    for n in range(5):
        for user in ("a", "b"):
            event = {
                "user_id": user,
                "item_id": str(n + 1),
                "event": "view",
                "event_id": f"{user}{n}",
            }
            records.append((user.encode(), msgspec.json.encode(event)))
    await d.produce(records)
    worker = d.start_worker()

    outputs = await d.consume(d.output_topic, 2, settle=4.0)
    assert sorted(msgspec.json.decode(o.value)["event_id"] for o in outputs) == ["a4", "b4"]
    for user in ("a", "b"):
        status, state = d.get_json(worker, f"/features/{user}/")
        assert status == 200 and isinstance(state, dict)
        assert state["n_events"] == 5, "every event still updates the state"
        assert state["recent"] == ["1", "2", "3", "4", "5"]
