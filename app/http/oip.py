"""Open Inference Protocol V2 (REST) on the worker's web server: ask for a top-K directly.

    POST /v2/models/{name}/infer
    {"inputs": [{"name": "history", "shape": [3], "datatype": "BYTES",
                 "data": ["50", "172", "133"]}], "parameters": {"top_k": 5}}
    or {"inputs": [{"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["42"]}]}

answers {"model_name", "model_version", "id", "outputs": [item_ids (BYTES), scores (FP32)]}.
A history is scored as given; a user id is scored from that user's stored features, on the
worker that owns the user (others forward the request). Errors are 4xx/5xx with
{"error": "..."}. Requests are batched with each other (``app.inference.online``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from yarl import URL

from app.errors import InvalidRequest, ModelNotReady
from app.features.state import MAX_RECENT, UserFeatureState, state_from_items
from app.http import errors, responses
from app.http.context import HttpContext
from app.http.health import readiness

__all__ = ["infer", "live", "metadata", "model_ready", "parse", "ready"]


FORWARDED = "X-Streamrec-Forwarded"
MAX_ITEM_ID_CHARS = 256


class Tensor(msgspec.Struct, frozen=True):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferRequest(msgspec.Struct, frozen=True):
    inputs: list[Tensor]
    id: str | None = None
    parameters: dict[str, Any] = {}


_decode_request = msgspec.json.Decoder(InferRequest).decode


def _strings(tensor: Tensor) -> list[str]:
    if tensor.datatype != "BYTES":
        raise InvalidRequest(f"input {tensor.name!r} must have datatype BYTES")
    if tensor.shape != [len(tensor.data)]:
        raise InvalidRequest(f"input {tensor.name!r}: shape {tensor.shape} does not match data")
    for value in tensor.data:
        if not isinstance(value, str) or not value or len(value) > MAX_ITEM_ID_CHARS:
            raise InvalidRequest(
                f"input {tensor.name!r}: every element must be a non-empty string of at most "
                f"{MAX_ITEM_ID_CHARS} characters"
            )
    return list(tensor.data)


def parse(body: bytes, default_k: int) -> tuple[InferRequest, Tensor, int]:
    """The request, its one input and K; InvalidRequest says what is wrong."""
    try:
        request = _decode_request(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"not an inference request: {exc}") from exc
    except UnicodeDecodeError as exc:  # msgspec raises this, not DecodeError, inside strings
        raise InvalidRequest(f"not an inference request: the body is not UTF-8 ({exc.reason} "
                             f"at byte {exc.start})") from exc  # fmt: skip
    except RecursionError:
        raise InvalidRequest("not an inference request: nested too deeply") from None
    if len(request.inputs) != 1 or request.inputs[0].name not in ("history", "user_id"):
        raise InvalidRequest("send exactly one input, named 'history' or 'user_id'")
    k = request.parameters.get("top_k", default_k)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
        raise InvalidRequest("parameters.top_k must be an integer from 1 to 1000")
    tensor = request.inputs[0]
    if tensor.name == "history" and len(tensor.data) > 10 * MAX_RECENT:
        raise InvalidRequest(f"history: at most {10 * MAX_RECENT} items")
    if tensor.name == "user_id" and len(tensor.data) != 1:
        raise InvalidRequest("user_id: exactly one user id")
    return request, tensor, k


async def live(ctx: HttpContext, request: web.Request) -> web.Response:
    """The server is up."""
    return responses.json({"live": True})


async def ready(ctx: HttpContext, request: web.Request) -> web.Response:
    """The worker's readiness, as /health/ready says it."""
    is_ready = readiness(ctx)["ready"]
    return responses.json({"ready": is_ready}, 200 if is_ready else 503)


async def metadata(ctx: HttpContext, request: web.Request, name: str) -> web.Response:
    """The model's versions, the one serving, and the inputs and outputs of the API and of
    the graph."""
    model = ctx.model
    if name != model.name:
        return errors.error(404, f"unknown model {name!r}; this worker serves {model.name!r}")
    scorer = model.current
    return responses.json({
        "name": model.name,
        "versions": model.registry.versions(model.name),
        "platform": "onnxruntime_onnx",
        "serving_version": None if scorer is None else scorer.version,
        "inputs": [
            {"name": "history", "datatype": "BYTES", "shape": [-1]},
            {"name": "user_id", "datatype": "BYTES", "shape": [1]},
        ],
        "outputs": [
            {"name": "item_ids", "datatype": "BYTES", "shape": [-1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1]},
        ],
        # What the graph itself reads, each tensor built from the user's state by the
        # named feature builder (a history request fills only the items).
        "parameters": {"model_inputs": [] if scorer is None else [
            {"name": t.name, "datatype": t.datatype, "shape": t.shape,
             "feature": scorer.builders[t.name]}
            for t in scorer.manifest.inputs
        ]},
    })  # fmt: skip


async def model_ready(ctx: HttpContext, request: web.Request, name: str) -> web.Response:
    """Whether the model has a version loaded."""
    model = ctx.model
    if name != model.name:
        return errors.error(404, f"unknown model {name!r}")
    return responses.json({"name": name, "ready": model.ready}, 200 if model.ready else 503)


async def infer(ctx: HttpContext, request: web.Request, name: str) -> web.Response:
    """A top-K for a history, or for a user id on the worker that owns the user."""
    if name != ctx.model.name:
        return errors.error(404, f"unknown model {name!r}; this worker serves {ctx.model.name!r}")
    body = await request.read()
    try:
        parsed, tensor, k = parse(body, ctx.default_k)
        items = _strings(tensor)
    except InvalidRequest as exc:
        return errors.from_error(exc)
    if tensor.name == "history":
        state = state_from_items(items)
    else:
        found = await _user_state(ctx, request, body, items[0])
        if isinstance(found, web.Response):
            return found
        state = found
    try:
        scorer, ranked, source = await ctx.ranker.rank(state, k)
    except ModelNotReady as exc:
        return errors.from_error(exc)
    return responses.json({
        "model_name": scorer.name,
        "model_version": scorer.version,
        "id": parsed.id,
        "outputs": [
            {"name": "item_ids", "datatype": "BYTES", "shape": [len(ranked)],
             "data": [i.item_id for i in ranked]},
            {"name": "scores", "datatype": "FP32", "shape": [len(ranked)],
             "data": [i.score for i in ranked]},
        ],
        # model, or for a history the model cannot read trending (or popularity).
        "parameters": {"source": source},
    })  # fmt: skip


async def _user_state(
    ctx: HttpContext, request: web.Request, body: bytes, user_id: str
) -> UserFeatureState | web.Response:
    """The user's stored state on the worker that owns the user; elsewhere the owner's
    answer to the forwarded request (or why there is none)."""
    try:
        owner = ctx.app.router.key_store(ctx.features.name, user_id)
    except KeyError:
        return errors.error(503, "partition owners unknown (rebalancing); retry")
    if not _same_worker(owner, URL(str(ctx.app.conf.canonical_url))):
        if request.headers.get(FORWARDED):
            return errors.error(503, "user moved between workers; retry")
        return await _forward(ctx, owner, request, body)
    stored = ctx.features.get(user_id)
    if stored is None:
        return errors.error(404, f"no features for user {user_id!r}")
    return stored


def _same_worker(a: URL, b: URL) -> bool:
    return (a.host, a.port) == (b.host, b.port)


async def _forward(ctx: HttpContext, owner: URL, request: web.Request, body: bytes) -> web.Response:
    url = owner.with_path(request.url.path)
    headers = {"Content-Type": "application/json", FORWARDED: "1"}
    async with ctx.app.http_client.post(url, data=body, headers=headers) as response:
        return responses.raw_json(await response.read(), response.status)
