"""Malformed requests to every kind of endpoint, each with the 4xx it must get (as JSON).

One corpus, two users: tests/unit/http/test_guard.py sends it to the web app in-process,
tests/integration/test_http_hardening.py to a running worker (which must keep processing).
None of these depends on a user's partition owner or the model being loaded: each is refused
before that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec

ADMIN_TOKEN = "corpus-admin-token"
INFER = "/v2/models/itemsvd/infer"
JSON = {"Content-Type": "application/json"}
LONG = "x" * 2000


@dataclass(frozen=True)
class Malformed:
    name: str
    method: str
    path: str
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    """Send the body without a Content-Length (the size limit is found while reading)."""

    async def chunks(self) -> AsyncIterator[bytes]:
        body = self.body or b""
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]


def _infer(name: str, body: object | bytes, status: int = 400) -> Malformed:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return Malformed(name, "POST", INFER, status, raw, JSON)


def _history(data: list[object], **extra: object) -> dict[str, object]:
    tensor = {"name": "history", "shape": [len(data)], "datatype": "BYTES", "data": data}
    return {"inputs": [tensor], **extra}


def _admin(name: str, path: str, authorization: str | None, status: int) -> Malformed:
    headers = {} if authorization is None else {"Authorization": authorization}
    return Malformed(name, "POST", path, status, None, headers)


# fmt: off
CORPUS: list[Malformed] = [
    # Paths and methods.
    Malformed("unknown path", "GET", "/nope", 404),
    Malformed("unknown path under /v2", "GET", "/v2/nope/at/all", 404),
    Malformed("GET on the inference endpoint", "GET", INFER, 405),
    Malformed("POST on a health check", "POST", "/health/ready", 405),
    Malformed("DELETE on /models/", "DELETE", "/models/", 405),
    Malformed("PUT on /metrics", "PUT", "/metrics", 405),
    Malformed("GET on an admin action", "GET", "/models/itemsvd/reload", 405),
    Malformed("user id path segment of 2000 bytes", "GET", f"/recommendations/{LONG}/", 414),
    Malformed("features path segment of 2000 bytes", "GET", f"/features/{LONG}", 414),
    Malformed("model name of 2000 bytes", "GET", f"/v2/models/{LONG}/ready", 414),
    Malformed("user id not UTF-8 (%ff)", "GET", "/recommendations/%ff/", 400),
    Malformed("user id with a broken UTF-8 sequence", "GET", "/features/%c3%28/", 400),
    Malformed("unknown model metadata", "GET", "/v2/models/nope", 404),
    Malformed("unknown model readiness", "GET", "/v2/models/nope/ready", 404),
    Malformed("inference on an unknown model", "POST", "/v2/models/nope/infer", 404,
              msgspec.json.encode(_history(["1"])), JSON),
    # Admin endpoints (the worker under test has ADMIN_TOKEN).
    _admin("reload without a token", "/models/itemsvd/reload", None, 401),
    _admin("rollback with a wrong token", "/models/itemsvd/rollback", "Bearer wrong", 401),
    _admin("reload with Basic auth", "/models/itemsvd/reload", "Basic YWRtaW46YWRtaW4=", 401),
    _admin("reload with an empty Bearer", "/models/itemsvd/reload", "Bearer ", 401),
    _admin("reload with a 4000-character token", "/models/itemsvd/reload", "Bearer " + "t" * 4000,
           401),
    _admin("unknown admin action", "/models/itemsvd/explode", f"Bearer {ADMIN_TOKEN}", 404),
    _admin("admin action on an unknown model", "/models/nope/reload", f"Bearer {ADMIN_TOKEN}", 404),
    # Inference bodies.
    _infer("empty body", b""),
    _infer("not JSON", b"history please"),
    _infer("not UTF-8", b'{"inputs": [{"name": "history", "data": ["\xff\xfe"]}]}'),
    _infer("a UTF-8 byte order mark", b"\xef\xbb\xbf" + msgspec.json.encode(_history(["1"]))),
    _infer("NaN in JSON", b'{"inputs": [], "parameters": {"top_k": NaN}}'),
    _infer("a JSON array", []),
    _infer("no inputs key", {}),
    _infer("inputs is a string", {"inputs": "history"}),
    _infer("inputs is empty", {"inputs": []}),
    _infer("two inputs", {"inputs": _history(["1"])["inputs"] * 2}),
    _infer("unknown input name", {"inputs": [{"name": "items", "shape": [1],
                                              "datatype": "BYTES", "data": ["1"]}]}),
    _infer("datatype FP32", {"inputs": [{"name": "history", "shape": [1],
                                         "datatype": "FP32", "data": ["1"]}]}),
    _infer("shape does not match data",
           {"inputs": [{"name": "history", "shape": [5], "datatype": "BYTES", "data": ["1"]}]}),
    _infer("an absurd shape (10^400)", b'{"inputs": [{"name": "history", "shape": [1' + b"0" * 400
           + b'], "datatype": "BYTES", "data": ["1"]}]}'),
    _infer("numbers as item ids", _history([1, 2])),
    _infer("an empty item id", _history([""])),
    _infer("an item id of 300 characters", _history(["i" * 300])),
    _infer("a history of 10,000 items", _history([str(i) for i in range(10_000)])),
    _infer("user ids of shape [2, 2]", {"inputs": [{"name": "user_id", "shape": [2, 2],
                                                    "datatype": "BYTES",
                                                    "data": ["1", "2", "3", "4"]}]}),
    _infer("1001 user ids", {"inputs": [{"name": "user_id", "shape": [1001], "datatype": "BYTES",
                                         "data": [str(i) for i in range(1001)]}]}),
    _infer("top_k 0", _history(["1"], parameters={"top_k": 0})),
    _infer("top_k 1001", _history(["1"], parameters={"top_k": 1001})),
    _infer("top_k as a string", _history(["1"], parameters={"top_k": "5"})),
    _infer("top_k true", _history(["1"], parameters={"top_k": True})),
    _infer("top_k 1.5", _history(["1"], parameters={"top_k": 1.5})),
    _infer("top_k 1e999", b'{"inputs": [{"name": "history", "shape": [1], "datatype": "BYTES", '
           b'"data": ["1"]}], "parameters": {"top_k": 1e999}}'),
    _infer("id is a number", _history(["1"], id=7)),
    _infer("data nested 100,000 deep",
           b'{"inputs": [{"name": "history", "shape": [1], "datatype": "BYTES", "data": ['
           + b"[" * 100_000 + b"]" * 100_000 + b"]}]}"),
    _infer("parameters nested 50,000 deep", b'{"inputs": [], "parameters": '
           + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"),
    Malformed("Content-Type text/plain", "POST", INFER, 415,
              msgspec.json.encode(_history(["1"])), {"Content-Type": "text/plain"}),
    Malformed("a form post (curl -d without -H)", "POST", INFER, 415, b"inputs=1",
              {"Content-Type": "application/x-www-form-urlencoded"}),
    Malformed("a body over the limit (2 MB)", "POST", INFER, 413, b" " * 2_000_000, JSON),
    Malformed("a chunked body over the limit", "POST", INFER, 413, b" " * 2_000_000, JSON,
              chunked=True),
]
# fmt: on
