"""Open Inference Protocol requests: what is accepted, and the message for what is not."""

from __future__ import annotations

import msgspec
import pytest

from app.errors import InvalidRequest
from app.http.oip import _strings, parse


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
