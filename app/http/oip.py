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

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from aiohttp import web

from app.errors import InvalidRequest, StreamrecError
from app.http import errors, responses
from app.http.answering import FORWARDED, Refused, answer, check, pick
from app.http.context import HttpContext
from app.http.health import readiness
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
from app.inference.serving import ServedModel

__all__ = [
    "EXTENSIONS", "FORWARDED", "HEADER_LENGTH", "infer", "live", "metadata", "model_description",
    "model_ready", "parse", "ready", "server_metadata", "server_version",
]  # fmt: skip

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


def server_version() -> str:
    """streamrec's version, as installed."""
    try:
        return version("streamrec")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


async def server_metadata(ctx: HttpContext, request: web.Request) -> web.Response:
    """The server's name, version and the protocol extensions it supports."""
    return responses.json(
        {"name": "streamrec", "version": server_version(), "extensions": EXTENSIONS}
    )


def model_description(model: ServedModel) -> dict[str, Any]:
    """The model's metadata: its versions, the one serving, the inputs and outputs of the API
    and of the graph."""
    scorer = model.current
    return {
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
    }  # fmt: skip


async def metadata(
    ctx: HttpContext, request: web.Request, name: str, version: str | None = None
) -> web.Response:
    """The model's metadata (``model_description``); another version than the stream's is
    loaded for it."""
    try:
        picked = await pick(ctx, name, version)
    except Refused as exc:
        return errors.error(exc.status, exc.message)
    return responses.json(model_description(picked.model))


async def model_ready(
    ctx: HttpContext, request: web.Request, name: str, version: str | None = None
) -> web.Response:
    """Whether the model (that version) is ready: another version than the stream's is
    loaded to say so."""
    try:
        picked = await pick(ctx, name, version)
    except Refused as exc:
        return errors.error(exc.status, exc.message)
    is_ready = picked.model.ready
    return responses.json({"name": name, "ready": is_ready}, 200 if is_ready else 503)


async def infer(
    ctx: HttpContext, request: web.Request, name: str, version: str | None = None
) -> web.Response:
    """Top-Ks for histories, or for user ids on the workers that own them."""
    body = await request.read()
    forwarded = bool(request.headers.get(FORWARDED))
    try:
        check(ctx, name, version)
        parsed, query = parse(body, ctx.default_k, request.headers.get(HEADER_LENGTH))
        picked = await pick(ctx, name, version)
        found = await answer(ctx, picked, query, request.url.path, forwarded)
    except Refused as exc:
        return errors.error(exc.status, exc.message)
    except StreamrecError as exc:  # InvalidRequest, ModelNotReady
        return errors.from_error(exc)
    head: dict[str, Any] = {
        "model_name": found.model_name, "model_version": found.model_version, "id": parsed.id,
        "parameters": {"source": found.source},
    }  # fmt: skip
    return _answer(head, answer_tensors(query, found.rows), parsed)


def _answer(
    head: dict[str, Any], tensors: list[OutputTensor], request: InferRequest
) -> web.Response:
    """The response, each output in JSON or binary as the request asked."""
    binary_default = request.parameters.get("binary_data_output") is True
    wanted: dict[str, bool] = {t.name: binary_default for t in tensors}
    if request.outputs:  # none named (absent or empty): every output
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
