"""The Open Inference Protocol endpoints on real workers: a history, a user id asked of
either worker, and the errors."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from devtools.net import http_get, http_post
from devtools.processes import WorkerProcess
from tests.support.deployment import Deployment
from tests.support.waiting import wait_for


def post(worker: WorkerProcess, path: str, body: object) -> tuple[int, dict[str, object]]:
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    json = {"Content-Type": "application/json"}
    status, answer, _ = http_post(worker.web_url + path, data, json, timeout=10)
    return status, msgspec.json.decode(answer)


def infer_input(name: str, data: list[str]) -> dict[str, object]:
    return {"inputs": [{"name": name, "shape": [len(data)], "datatype": "BYTES", "data": data}]}


async def test_infer_by_history_and_by_user_on_either_worker(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    first, second = d.start_worker(), d.start_worker()
    assert wait_for(lambda: http_get(first.web_url + "/v2/health/ready")[0] == 200, 60)

    status, raw = http_get(first.web_url + "/v2/models/itemsvd")
    meta = msgspec.json.decode(raw)
    assert status == 200 and meta["name"] == "itemsvd" and meta["serving_version"] == "1", meta
    assert http_get(first.web_url + "/v2/models/itemsvd/ready")[0] == 200

    status, answer = post(first, "/v2/models/itemsvd/infer",
                          {**infer_input("history", ["50", "172", "133"]), "id": "q1",
                           "parameters": {"top_k": 5}})  # fmt: skip
    assert status == 200, answer
    outputs = {o["name"]: o for o in answer["outputs"]}  # type: ignore[union-attr]
    assert answer["model_name"] == "itemsvd" and answer["id"] == "q1"
    assert len(outputs["item_ids"]["data"]) == 5 and outputs["scores"]["datatype"] == "FP32"
    assert not {"50", "172", "133"} & set(outputs["item_ids"]["data"])  # seen items masked

    # Users with a stored state: each asked of both workers (one of them forwards), and the
    # answer is the stream's own latest update for the same state and model.
    users = [str(u) for u in range(300, 320)]
    records = [
        (u.encode(), msgspec.json.encode({"user_id": u, "item_id": str(int(u) % 50 + r + 1),
                                          "event": "view"}))
        for r in range(2) for u in users
    ]  # fmt: skip
    await d.produce(records)
    outputs_seen = await d.consume(d.output_topic, len(records), settle=1.0)
    latest = {}
    for o in sorted(outputs_seen, key=lambda o: (o.partition, o.offset)):
        latest[o.key.decode()] = [i["item_id"] for i in msgspec.json.decode(o.value)["items"]]

    def agrees(user: str) -> bool:
        for worker in (first, second):
            status, answer = post(
                worker, "/v2/models/itemsvd/infer", infer_input("user_id", [user])
            )
            if status != 200:
                return False
            items = next(o for o in answer["outputs"] if o["name"] == "item_ids")["data"]  # type: ignore[union-attr]
            if items != latest[user]:
                return False
        return True

    wait_for(lambda: all(agrees(u) for u in users), timeout=30, interval=0.5)
    assert [u for u in users if not agrees(u)] == []

    # Errors: 400 / 404 with {"error": ...}.
    for body, code in [
        (b"{nope", 400),
        (infer_input("items", ["1"]), 400),
        ({**infer_input("history", ["1"]), "parameters": {"top_k": 0}}, 400),
        (infer_input("user_id", ["no-such-user"]), 404),
    ]:
        status, answer = post(first, "/v2/models/itemsvd/infer", body)
        assert status == code and isinstance(answer.get("error"), str), (body, status, answer)
    status, answer = post(first, "/v2/models/other/infer", infer_input("history", ["1"]))
    assert status == 404 and "unknown model" in str(answer["error"])
