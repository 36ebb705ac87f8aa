"""Open Inference Protocol: what a request may hold, and the handlers' answers (each error
with its status)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from aiohttp import web
from msgspec.json import decode

from app.errors import InvalidRequest
from app.http import oip
from app.http.context import HttpContext
from app.http.oip import _strings, parse

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]


def body(inputs: object, **extra: object) -> bytes:
    return msgspec.json.encode({"inputs": inputs, **extra})


def history(data: list[object], shape: list[int] | None = None) -> dict[str, object]:
    shape = [len(data)] if shape is None else shape
    return {"name": "history", "shape": shape, "datatype": "BYTES", "data": data}


def test_a_history_or_a_user_id_is_accepted_with_its_k() -> None:
    request, tensor, k = parse(body([history(["50", "172"])], id="r1"), default_k=10)
    assert (request.id, tensor.name, _strings(tensor), k) == ("r1", "history", ["50", "172"], 10)
    user = {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["42"]}
    _, tensor, k = parse(body([user], parameters={"top_k": 3}), default_k=10)
    assert (tensor.name, _strings(tensor), k) == ("user_id", ["42"], 3)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{not json", "not an inference request"),
        (b"\xff\xfe{}", "not an inference request"),
        (body([history(["1"])]).replace(b'"1"', b'"\xff"'), "not UTF-8"),
        (body([history(["1"])]).replace(b'"1"', b'"\xed\xa0\x80"'), "not UTF-8"),
        (b'{"inputs": "x"}', "not an inference request"),
        (body([]), "exactly one input"),
        (body([history(["1"]), history(["2"])]), "exactly one input"),
        (body([{**history(["1"]), "name": "items"}]), "exactly one input"),
        (body([history(["1"])], parameters={"top_k": 0}), "top_k"),
        (body([history(["1"])], parameters={"top_k": "5"}), "top_k"),
        (body([history(["1"])], parameters={"top_k": True}), "top_k"),
        (body([history(["1"] * 2001)]), "at most 2000 items"),
        (body([{"name": "user_id", "shape": [2], "datatype": "BYTES", "data": ["1", "2"]}]),
         "exactly one user id"),
    ],
)  # fmt: skip
def test_malformed_requests_say_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        parse(raw, default_k=10)


@pytest.mark.parametrize(
    ("tensor", "says"),
    [
        (history(["1", "2"], shape=[3]), "does not match"),
        ({**history(["1"]), "datatype": "INT64"}, "BYTES"),
        (history([1]), "non-empty string"),
        (history([""]), "non-empty string"),
        (history(["x" * 257]), "non-empty string"),
        (history([None]), "non-empty string"),
    ],
)
def test_bad_elements_say_what_is_wrong(tensor: dict[str, object], says: str) -> None:
    _, parsed, _ = parse(body([tensor]), default_k=10)
    with pytest.raises(InvalidRequest, match=says):
        _strings(parsed)


async def test_metadata_names_the_versions_and_the_graphs_inputs(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    request = request_factory("GET", "/v2/models/itemsvd")
    response = await oip.metadata(ctx, request, "other")
    assert response.status == 404
    assert decode(response.body) == {"error": "unknown model 'other'; this worker serves "
                                              "'itemsvd'"}  # fmt: skip
    before = decode((await oip.metadata(ctx, request, "itemsvd")).body)
    assert (before["serving_version"], before["parameters"]) == (None, {"model_inputs": []})
    await ctx.model.load()
    after = decode((await oip.metadata(ctx, request, "itemsvd")).body)
    assert after["serving_version"] == "1" and after["versions"] == ["1"]
    assert after["parameters"]["model_inputs"][0]["name"] == "history"


async def test_infer_answers_a_history_and_maps_each_error_to_its_status(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()

    async def infer(inputs: object, **extra: object) -> web.Response:
        request = request_factory("POST", "/v2/models/itemsvd/infer", body(inputs, **extra))
        return await oip.infer(ctx, request, "itemsvd")

    response = await infer([history(["50", "172"])])
    assert response.status == 503 and "no model is loaded yet" in decode(response.body)["error"]
    await ctx.model.load()
    response = await infer([history(["50", "172"])], id="r1", parameters={"top_k": 3})
    answer = decode(response.body)
    assert (response.status, answer["model_version"], answer["id"]) == (200, "1", "r1")
    assert [o["shape"] for o in answer["outputs"]] == [[3], [3]]
    response = await infer([history(["50"], shape=[2])])
    assert response.status == 400 and "does not match" in decode(response.body)["error"]


async def test_infer_by_user_answers_on_the_owner_only(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    await ctx.model.load()

    async def infer(user_id: str, headers: dict[str, str] | None = None) -> web.Response:
        user = {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": [user_id]}
        request = request_factory("POST", "/v2/models/itemsvd/infer", body([user]), headers)
        return await oip.infer(ctx, request, "itemsvd")

    assert (await infer("42")).status == 503  # no owner known (rebalancing)
    ctx.app.owners.update({"42": "http://w1:6066", "7": "http://w2:6066"})  # type: ignore[attr-defined]
    response = await infer("42")
    assert (response.status, decode(response.body)) == (404, {"error": "no features for user '42'"})
    # Forwarded once already, yet not the owner: the user moved; the caller retries.
    response = await infer("7", headers={oip.FORWARDED: "1"})
    assert response.status == 503 and "moved" in decode(response.body)["error"]
