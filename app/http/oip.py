"""Open Inference Protocol V2 (REST) on the worker's web server: ask for top-Ks directly.

    POST /v2/models/{name}[/versions/{version}]/infer
    {"inputs": [{"name": "history", "shape": [3], "datatype": "BYTES",
                 "data": ["50", "172", "133"]}], "parameters": {"top_k": 5}}
    or {"inputs": [{"name": "user_id", "shape": [2], "datatype": "BYTES", "data": ["42", "7"]}]}

answers {"model_name", "model_version", "id", "outputs": [item_ids (BYTES), scores (FP32)]}
(``app.inference.protocol`` says the shapes). The binary tensor data extension works both
ways: a request whose ``Inference-Header-Content-Length`` header says where its JSON ends
carries the data of inputs with ``parameters.binary_data_size`` after it, and outputs asked
with ``binary_data`` (or all, with the request parameter ``binary_data_output``) come back
the same way (Triton's clients ask so by default). A history is scored as given; user ids
are scored from their stored features, on the workers that own them (others forward). Errors
are 4xx/5xx with {"error": "..."}. Requests are batched with each other
(``app.inference.online``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from aiohttp import web
from yarl import URL

from app.errors import InvalidRequest, ModelNotReady
from app.features.state import UserFeatureState, state_from_items
from app.http import errors, responses
from app.http.context import HttpContext
from app.http.health import readiness
from app.inference.online import Ranked
from app.inference.protocol import (
    OUTPUTS,
    InputTensor,
    OutputTensor,
    Query,
    answer_tensors,
    from_binary,
    query_of,
    to_binary,
)
from app.records import ScoredItem

__all__ = [
    "FORWARDED", "HEADER_LENGTH", "infer", "live", "metadata", "model_ready", "parse", "ready",
    "server_metadata",
]  # fmt: skip

FORWARDED = "X-Streamrec-Forwarded"
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]


class Tensor(msgspec.Struct, frozen=True):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = None
    parameters: dict[str, Any] = {}


class RequestedOutput(msgspec.Struct, frozen=True):
    name: str
    parameters: dict[str, Any] = {}


class InferRequest(msgspec.Struct, frozen=True):
    inputs: list[Tensor]
    id: str | None = None
    parameters: dict[str, Any] = {}
    outputs: list[RequestedOutput] | None = None


_decode_request = msgspec.json.Decoder(InferRequest).decode


def parse(
    body: bytes, default_k: int, header_length: str | None = None
) -> tuple[InferRequest, Query]:
    """The request and its query; ``header_length``: the binary extension's header value (the
    JSON is that many bytes, the inputs' binary data follows). InvalidRequest says what is
    wrong."""
    json_part, binary = body, b""
    if header_length is not None:
        if not header_length.isdigit() or not 0 < int(header_length) <= len(body):
            raise InvalidRequest(
                f"{HEADER_LENGTH} must be the JSON's length in bytes, from 1 to the body's "
                f"{len(body)}, not {header_length[:20]!r}"
            )
        json_part, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        request = _decode_request(json_part)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"not an inference request: {exc}") from exc
    except UnicodeDecodeError as exc:  # msgspec raises this, not DecodeError, inside strings
        raise InvalidRequest(f"not an inference request: the body is not UTF-8 ({exc.reason} "
                             f"at byte {exc.start})") from exc  # fmt: skip
    except RecursionError:
        raise InvalidRequest("not an inference request: nested too deeply") from None
    tensors = []
    at = 0
    for tensor in request.inputs:
        size = tensor.parameters.get("binary_data_size")
        if size is not None:
            left = len(binary) - at
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= left:
                raise InvalidRequest(
                    f"input {tensor.name!r}: binary_data_size {size!r} is not within the "
                    f"{left} bytes of data left"
                )
            raw = binary[at : at + size]
            elements = from_binary(tensor.datatype, tensor.shape, raw, tensor.name)
            at += size
        elif tensor.data is None:
            raise InvalidRequest(f"input {tensor.name!r} has no data (nor binary_data_size)")
        else:
            elements = tensor.data
        tensors.append(InputTensor(tensor.name, tensor.datatype, tensor.shape, elements))
    if at != len(binary):
        raise InvalidRequest(f"{len(binary) - at} bytes of binary data no input claims")
    for output in request.outputs or ():
        if output.name not in OUTPUTS:
            raise InvalidRequest(f"unknown output {output.name!r}; the outputs are "
                                 f"{', '.join(OUTPUTS)}")  # fmt: skip
    return request, query_of(tensors, request.parameters, default_k)


async def live(ctx: HttpContext, request: web.Request) -> web.Response:
    """The server is up."""
    return responses.json({"live": True})


async def ready(ctx: HttpContext, request: web.Request) -> web.Response:
    """The worker's readiness, as /health/ready says it."""
    is_ready = readiness(ctx)["ready"]
    return responses.json({"ready": is_ready}, 200 if is_ready else 503)


async def server_metadata(ctx: HttpContext, request: web.Request) -> web.Response:
    """The server's name, version and the protocol extensions it supports."""
    try:
        ours = version("streamrec")
    except PackageNotFoundError:  # run from a source tree that was never installed
        ours = "unknown"
    return responses.json({"name": "streamrec", "version": ours, "extensions": EXTENSIONS})


def _unknown(ctx: HttpContext, name: str, version: str | None) -> web.Response | None:
    """404 unless ``name`` (and ``version``, if given) is what this worker serves."""
    model = ctx.model
    if name != model.name:
        return errors.error(404, f"unknown model {name!r}; this worker serves {model.name!r}")
    if version is None:
        return None
    scorer = model.current
    serving = None if scorer is None else scorer.version
    if version not in model.registry.versions(name):
        return errors.error(404, f"model {name!r} has no version {version!r}")
    if version != serving:
        return errors.error(404, f"version {version!r} of {name!r} is not loaded; this "
                                 f"worker serves version {serving!r}")  # fmt: skip
    return None


async def metadata(
    ctx: HttpContext, request: web.Request, name: str, version: str | None = None
) -> web.Response:
    """The model's versions, the one serving, and the inputs and outputs of the API and of
    the graph."""
    unknown = _unknown(ctx, name, version)
    if unknown is not None:
        return unknown
    model = ctx.model
    scorer = model.current
    return responses.json({
        "name": model.name,
        "versions": model.registry.versions(model.name),
        "platform": "onnxruntime_onnx",
        "serving_version": None if scorer is None else scorer.version,
        "inputs": [
            {"name": "history", "datatype": "BYTES", "shape": [-1, -1]},
            {"name": "user_id", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "item_ids", "datatype": "BYTES", "shape": [-1, -1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
        ],
        # What the graph itself reads, each tensor built from the user's state by the
        # named feature builder (a history request fills only the items).
        "parameters": {"model_inputs": [] if scorer is None else [
            {"name": t.name, "datatype": t.datatype, "shape": t.shape,
             "feature": scorer.builders[t.name]}
            for t in scorer.manifest.inputs
        ]},
    })  # fmt: skip


async def model_ready(
    ctx: HttpContext, request: web.Request, name: str, version: str | None = None
) -> web.Response:
    """Whether the model (that version) is loaded."""
    if name != ctx.model.name:
        return errors.error(404, f"unknown model {name!r}")
    if version is not None and version not in ctx.model.registry.versions(name):
        return errors.error(404, f"model {name!r} has no version {version!r}")
    scorer = ctx.model.current
    is_ready = ctx.model.ready and (
        version is None or (scorer is not None and scorer.version == version)
    )
    return responses.json({"name": name, "ready": is_ready}, 200 if is_ready else 503)


async def infer(
    ctx: HttpContext, request: web.Request, name: str, version: str | None = None
) -> web.Response:
    """Top-Ks for histories, or for user ids on the workers that own them."""
    unknown = _unknown(ctx, name, version)
    if unknown is not None:
        return unknown
    body = await request.read()
    try:
        parsed, query = parse(body, ctx.default_k, request.headers.get(HEADER_LENGTH))
    except InvalidRequest as exc:
        return errors.from_error(exc)
    if query.input == "history":
        answered = await _rank(ctx, [state_from_items(row) for row in query.rows], query.k)
    else:
        answered = await _by_user(ctx, request, query)
    if isinstance(answered, web.Response):
        return answered
    model_name, model_version, rows, sources = answered
    tensors = answer_tensors(query, rows)
    head: dict[str, Any] = {
        "model_name": model_name, "model_version": model_version, "id": parsed.id,
        # model, or for a history the model cannot read trending (or popularity).
        "parameters": {"source": ",".join(dict.fromkeys(sources))},
    }  # fmt: skip
    return _answer(head, tensors, parsed)


Answered = tuple[str, str, list[list[ScoredItem]], list[str]]
"""Model name, version, each row's top-K and its source."""


async def _rank(
    ctx: HttpContext, states: list[UserFeatureState], k: int
) -> Answered | web.Response:
    try:
        ranked: list[Ranked] = await asyncio.gather(*(ctx.ranker.rank(s, k) for s in states))
    except ModelNotReady as exc:
        return errors.from_error(exc)
    scorer = ranked[0][0]
    return scorer.name, scorer.version, [r[1] for r in ranked], [r[2] for r in ranked]


async def _by_user(ctx: HttpContext, request: web.Request, query: Query) -> Answered | web.Response:
    """Each user's top-K: scored here for the users this worker owns, asked of their owners
    for the others (one request per owner), in the request's order."""
    here = URL(str(ctx.app.conf.canonical_url))
    by_owner: dict[tuple[str | None, int | None], list[int]] = defaultdict(list)
    owners: dict[tuple[str | None, int | None], URL] = {}
    for n, user in enumerate(query.user_ids):
        try:
            owner = ctx.app.router.key_store(ctx.features.name, user)
        except KeyError:
            return errors.error(503, "partition owners unknown (rebalancing); retry")
        key = (owner.host, owner.port)
        by_owner[key].append(n)
        owners[key] = owner
    local_key = (here.host, here.port)
    remote = [key for key in by_owner if key != local_key]
    if remote and request.headers.get(FORWARDED):
        return errors.error(503, "user moved between workers; retry")
    rows: list[list[ScoredItem]] = [[] for _ in query.rows]
    sources = [""] * len(query.rows)
    name, model_version = ctx.model.name, ""
    local = by_owner.get(local_key, [])
    states = [ctx.features.get(query.user_ids[n]) for n in local]
    missing = [query.user_ids[n] for n, state in zip(local, states, strict=True) if state is None]
    if missing:
        return errors.error(404, _no_features(missing))
    asks = [
        _ask_owner(ctx, request, owners[key], [query.user_ids[n] for n in by_owner[key]], query.k)
        for key in remote
    ]
    if local:
        asks.append(_rank(ctx, [s for s in states if s is not None], query.k))
    for positions, answer in zip(
        [by_owner[key] for key in remote] + [local], await asyncio.gather(*asks), strict=False
    ):
        if isinstance(answer, web.Response):
            return answer
        name, model_version = answer[0], answer[1]
        for n, row, source in zip(positions, answer[2], answer[3], strict=True):
            rows[n], sources[n] = row, source
    return name, model_version, rows, sources


def _no_features(users: list[str]) -> str:
    if len(users) == 1:
        return f"no features for user {users[0]!r}"
    shown = ", ".join(repr(u) for u in users[:10])
    return f"no features for {len(users)} users: {shown}{', ...' if len(users) > 10 else ''}"


async def _ask_owner(
    ctx: HttpContext, request: web.Request, owner: URL, users: list[str], k: int
) -> Answered | web.Response:
    """The owner's answer for ``users``, asked in plain JSON whatever the client sent."""
    body = msgspec.json.encode({
        "inputs": [{"name": "user_id", "shape": [len(users)], "datatype": "BYTES", "data": users}],
        "parameters": {"top_k": k},
    })  # fmt: skip
    headers = {"Content-Type": "application/json", FORWARDED: "1"}
    url = owner.with_path(request.url.path)
    async with ctx.app.http_client.post(url, data=body, headers=headers) as response:
        raw = await response.read()
        if response.status != 200:
            return responses.raw_json(raw, response.status)
    answer = msgspec.json.decode(raw)
    outputs = {o["name"]: o for o in answer["outputs"]}
    width = outputs["item_ids"]["shape"][-1]
    items, scores = outputs["item_ids"]["data"], outputs["scores"]["data"]
    rows = [
        [ScoredItem(i, s) for i, s in zip(items[r * width : (r + 1) * width],
                                           scores[r * width : (r + 1) * width], strict=True) if i]
        for r in range(len(users))
    ]  # fmt: skip
    source = answer.get("parameters", {}).get("source", "")
    return answer["model_name"], answer["model_version"], rows, [source] * len(users)


def _answer(
    head: dict[str, Any], tensors: list[OutputTensor], request: InferRequest
) -> web.Response:
    """The response, each output in JSON or binary as the request asked."""
    binary_default = request.parameters.get("binary_data_output") is True
    wanted: dict[str, bool] = {t.name: binary_default for t in tensors}
    if request.outputs is not None:
        wanted = {
            o.name: bool(o.parameters.get("binary_data", binary_default)) for o in request.outputs
        }
    by_name = {t.name: t for t in tensors}
    outputs, blobs = [], []
    for name, binary in wanted.items():
        tensor = by_name[name]
        out: dict[str, Any] = {"name": name, "datatype": tensor.datatype, "shape": tensor.shape}
        if binary:
            blob = to_binary(tensor)
            blobs.append(blob)
            out["parameters"] = {"binary_data_size": len(blob)}
        else:
            out["data"] = tensor.elements
        outputs.append(out)
    header = msgspec.json.encode({**head, "outputs": outputs})
    if not blobs:
        return responses.raw_json(header)
    return web.Response(
        body=header + b"".join(blobs), content_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )  # fmt: skip
