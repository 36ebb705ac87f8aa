"""The Open Inference Protocol endpoints on real workers: a history, a user id asked of
either worker, and the errors."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
import pytest
import tritonclient.grpc
import tritonclient.http
from tritonclient.utils import InferenceServerException

from devtools.net import free_port, http_get, http_post
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
    grpc_ports = [free_port(), free_port()]
    first, second = (d.start_worker(STREAMREC_GRPC_PORT=str(port)) for port in grpc_ports)
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

    # NVIDIA's tritonclient with its defaults (the binary tensor data extension both ways)
    # gets what plain JSON gets: a batch of user ids as INT64, a history, the errors.
    client = tritonclient.http.InferenceServerClient(first.web_url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    assert client.is_model_ready("itemsvd", "1") and not client.is_model_ready("other")
    assert client.get_model_metadata("itemsvd", "1")["serving_version"] == "1"
    batch = users[:5]
    ids = tritonclient.http.InferInput("user_id", [len(batch)], "INT64")
    ids.set_data_from_numpy(np.array([int(u) for u in batch], dtype=np.int64))
    result = client.infer("itemsvd", [ids], model_version="1")
    items = result.as_numpy("item_ids")
    assert items.shape == (5, 10) and result.as_numpy("scores").dtype == np.float32
    assert [[i.decode() for i in row] for row in items] == [latest[u] for u in batch]
    seen = tritonclient.http.InferInput("history", [3], "BYTES")
    seen.set_data_from_numpy(np.array([b"50", b"172", b"133"], dtype=np.object_))
    answer = client.infer("itemsvd", [seen], parameters={"top_k": 5})
    status, plain = post(first, "/v2/models/itemsvd/infer",
                         {**infer_input("history", ["50", "172", "133"]),
                          "parameters": {"top_k": 5}})  # fmt: skip
    by_name = {o["name"]: o["data"] for o in plain["outputs"]}  # type: ignore[union-attr]
    assert [i.decode() for i in answer.as_numpy("item_ids")] == by_name["item_ids"]
    assert answer.as_numpy("scores").tolist() == pytest.approx(by_name["scores"])
    # The errors, each with its status: an unknown model, a shape its data does not fill,
    # an unknown user among known ones.
    unknown_user = tritonclient.http.InferInput("user_id", [2], "BYTES")
    unknown_user.set_data_from_numpy(np.array([b"300", b"no-such-user"], dtype=np.object_))
    bad_shape = tritonclient.http.InferInput("history", [3], "BYTES")
    bad_shape.set_data_from_numpy(np.array([b"50", b"172", b"133"], dtype=np.object_))
    bad_shape._parameters["binary_data_size"] -= 1  # the last element cut short
    for model, tensor, code in [("other", seen, "404"), ("itemsvd", bad_shape, "400"),
                                ("itemsvd", unknown_user, "404")]:  # fmt: skip
        with pytest.raises(InferenceServerException) as raised:
            client.infer(model, [tensor])
        assert raised.value.status() == code, raised.value

    # The same over gRPC (tritonclient.grpc sends raw_input_contents), asked of the other
    # worker: its users' answers come from their owners, as over REST.
    remote = tritonclient.grpc.InferenceServerClient(f"127.0.0.1:{grpc_ports[1]}")
    assert remote.is_server_live() and remote.is_model_ready("itemsvd")
    assert "binary_tensor_data" in remote.get_server_metadata().extensions
    assert remote.get_model_metadata("itemsvd").versions == ["1"]
    ids = tritonclient.grpc.InferInput("user_id", [len(batch)], "INT64")
    ids.set_data_from_numpy(np.array([int(u) for u in batch], dtype=np.int64))
    result = remote.infer("itemsvd", [ids])
    assert [[i.decode() for i in row] for row in result.as_numpy("item_ids")] == [
        latest[u] for u in batch
    ]
    seen = tritonclient.grpc.InferInput("history", [3], "BYTES")
    seen.set_data_from_numpy(np.array([b"50", b"172", b"133"], dtype=np.object_))
    answer = remote.infer("itemsvd", [seen], parameters={"top_k": 5})
    assert [i.decode() for i in answer.as_numpy("item_ids")] == by_name["item_ids"]
    assert answer.as_numpy("scores").tolist() == pytest.approx(by_name["scores"])
    bad_shape = tritonclient.grpc.InferInput("user_id", [3], "INT64")
    bad_shape.set_data_from_numpy(np.array([1, 2, 3], dtype=np.int64))
    bad_shape._input.shape[:] = [4]  # a shape its data does not fill
    unknown_user = tritonclient.grpc.InferInput("user_id", [2], "BYTES")
    unknown_user.set_data_from_numpy(np.array([b"300", b"no-such-user"], dtype=np.object_))
    for model, tensor, code in [("other", seen, "StatusCode.NOT_FOUND"),
                                ("itemsvd", bad_shape, "StatusCode.INVALID_ARGUMENT"),
                                ("itemsvd", unknown_user, "StatusCode.NOT_FOUND")]:  # fmt: skip
        with pytest.raises(InferenceServerException) as raised:
            remote.infer(model, [tensor])
        assert raised.value.status() == code, raised.value

    # Any version in the registry, by name and version, while the stream keeps its model:
    # loaded on the first request, on each worker that answers (by user: the owners).
    status, other = post(first, "/v2/models/hybrid-rank/versions/1/infer",
                         infer_input("history", ["50", "172", "133"]))  # fmt: skip
    assert status == 200 and (other["model_name"], other["model_version"]) == ("hybrid-rank", "1")
    for worker in (first, second):
        status, other = post(
            worker, "/v2/models/itemsvd-rated/infer", infer_input("user_id", batch)
        )
        assert status == 200 and other["model_name"] == "itemsvd-rated", other
    rated = remote.infer("itemsvd-rated", [ids])
    assert rated.get_response().model_name == "itemsvd-rated"
    # /models/ shows what the API holds besides the stream's arms, least recently used first.
    report = msgspec.json.decode(http_get(first.web_url + "/models/")[1])
    assert report["api_models"] == ["hybrid-rank/1", "itemsvd-rated/1"], report["api_models"]
    assert http_get(first.web_url + "/v2/models/itemsvd")[0] == 200  # the stream's, unchanged
    assert (
        msgspec.json.decode(http_get(first.web_url + "/v2/models/itemsvd")[1])["serving_version"]
        == "1"
    )
