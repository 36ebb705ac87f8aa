"""Open Inference Protocol: what a request may hold, and the handlers' answers (each error
with its status)."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

import msgspec
import pytest
from aiohttp import web
from msgspec.json import decode

from app.errors import InvalidRequest
from app.http import oip
from app.http.context import HttpContext
from app.http.oip import parse
from app.inference.protocol import bytes_elements

Context = Callable[..., HttpContext]
Requests = Callable[..., web.Request]


def body(inputs: object, **extra: object) -> bytes:
    return msgspec.json.encode({"inputs": inputs, **extra})


def history(data: list[object], shape: list[int] | None = None) -> dict[str, object]:
    shape = [len(data)] if shape is None else shape
    return {"name": "history", "shape": shape, "datatype": "BYTES", "data": data}


def test_a_history_or_a_user_id_is_accepted_with_its_k() -> None:
    request, query = parse(body([history(["50", "172"])], id="r1"), default_k=10)
    assert (request.id, query.input, query.rows, query.k) == ("r1", "history", [["50", "172"]], 10)
    user = {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["42"]}
    _, query = parse(body([user], parameters={"top_k": 3}), default_k=10)
    assert (query.input, query.user_ids, query.k, query.batched) == ("user_id", ["42"], 3, True)


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
        (body([{"name": "user_id", "shape": [2, 2], "datatype": "BYTES",
                "data": ["1", "2", "3", "4"]}]), "shape [n] or [n, 1]"),
        (body([{"name": "user_id", "shape": [1001], "datatype": "BYTES",
                "data": [str(i) for i in range(1001)]}]), "from 1 to 1000 rows"),
        (body([{"name": "history", "shape": [1], "datatype": "BYTES"}]), "has no data"),
        (body([history(["1"])], outputs=[{"name": "ranks"}]), "unknown output 'ranks'"),
        (body([history(["1", "2"], shape=[3])]), "does not match"),
        (body([history(["1"], shape=[1, 1, 1])]), "shape must be [n] or [n, m]"),
        (body([{**history(["1"]), "datatype": "FP32"}]), "datatype must be one of"),
        (body([{**history(["1"]), "datatype": "INT64"}]), "must be an integer"),
        (body([history([1])]), "non-empty string"),
        (body([history([""])]), "non-empty string"),
        (body([history(["x" * 257])]), "non-empty string"),
        (body([history([None])]), "non-empty string"),
    ],
)  # fmt: skip
def test_malformed_requests_say_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(says)):
        parse(raw, default_k=10)


def test_batches_of_histories_and_integer_ids_are_taken() -> None:
    two = {"name": "history", "shape": [2, 3], "datatype": "BYTES",
           "data": ["50", "172", "133", "7", "", ""]}  # fmt: skip
    _, query = parse(body([two]), default_k=10)
    assert (query.rows, query.batched) == ([["50", "172", "133"], ["7"]], True)
    users = {"name": "user_id", "shape": [2, 1], "datatype": "INT64", "data": [42, 7]}
    assert parse(body([users]), default_k=10)[1].user_ids == ["42", "7"]


def binary_request(tensor: dict[str, object], data: bytes, **extra: object) -> tuple[bytes, str]:
    header = body([{**tensor, "parameters": {"binary_data_size": len(data)}}], **extra)
    return header + data, str(len(header))


def test_the_binary_extension_carries_the_inputs_data_after_the_json() -> None:
    ids = b"".join(struct.pack("<I", len(x)) + x for x in (b"50", b"172"))
    raw, length = binary_request({"name": "history", "shape": [2], "datatype": "BYTES"}, ids)
    assert parse(raw, 10, length)[1].rows == [["50", "172"]]
    ints = struct.pack("<2q", 42, 7)
    raw, length = binary_request({"name": "user_id", "shape": [2], "datatype": "INT64"}, ints)
    assert parse(raw, 10, length)[1].user_ids == ["42", "7"]
    for bad, says in [("0", "must be the JSON's length"), ("x", "must be the JSON's length"),
                      (str(len(raw) + 1), "must be the JSON's length")]:  # fmt: skip
        with pytest.raises(InvalidRequest, match=says):
            parse(raw, 10, bad)
    with pytest.raises(InvalidRequest, match="is not within the 15 bytes"):
        parse(raw[:-1], 10, length)
    short, short_length = binary_request(
        {"name": "user_id", "shape": [2], "datatype": "INT64"}, ints[:-1]
    )
    with pytest.raises(InvalidRequest, match="15 bytes of data for 2 INT64"):
        parse(short, 10, short_length)
    with pytest.raises(InvalidRequest, match="no input claims"):
        parse(raw + b"!", 10, length)


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


async def test_the_server_metadata_and_the_versioned_paths(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    await ctx.model.load()
    get = request_factory("GET", "/v2")
    server = decode((await oip.server_metadata(ctx, get)).body)
    assert server["name"] == "streamrec" and server["extensions"] == ["binary_tensor_data"]
    assert (await oip.model_ready(ctx, get, "itemsvd", "1")).status == 200
    assert (await oip.metadata(ctx, get, "itemsvd", "1")).status == 200
    missing = await oip.model_ready(ctx, get, "itemsvd", "9")
    assert missing.status == 404 and "no version '9'" in decode(missing.body)["error"]

    async def infer(version: str) -> web.Response:
        request = request_factory(
            "POST", f"/v2/models/itemsvd/versions/{version}/infer", body([history(["50"])])
        )
        return await oip.infer(ctx, request, "itemsvd", version)

    assert decode((await infer("1")).body)["model_version"] == "1"
    assert (await infer("9")).status == 404


async def test_outputs_come_back_binary_or_chosen_as_asked(
    context_factory: Context, request_factory: Requests
) -> None:
    ctx = context_factory()
    await ctx.model.load()

    async def infer(raw: bytes) -> web.Response:
        request = request_factory("POST", "/v2/models/itemsvd/infer", raw)
        return await oip.infer(ctx, request, "itemsvd")

    plain = decode((await infer(body([history(["50", "172"])], parameters={"top_k": 3}))).body)
    items = next(o for o in plain["outputs"] if o["name"] == "item_ids")["data"]
    raw = body([history(["50", "172"])], parameters={"top_k": 3, "binary_data_output": True})
    response = await infer(raw)
    assert response.content_type == "application/octet-stream"
    assert isinstance(response.body, bytes)
    length = int(response.headers[oip.HEADER_LENGTH])
    head = decode(response.body[:length])
    sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
    blob = response.body[length:]
    assert [o["name"] for o in head["outputs"]] == ["item_ids", "scores"] and sum(sizes) == len(
        blob
    )
    assert bytes_elements(blob[: sizes[0]], 3, "item_ids") == items
    only = body([history(["50"])], outputs=[{"name": "scores"}])
    assert [o["name"] for o in decode((await infer(only)).body)["outputs"]] == ["scores"]
