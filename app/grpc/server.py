"""The Open Inference Protocol over gRPC, in the worker: STREAMREC_GRPC_PORT.

The protocol's ``inference.GRPCInferenceService`` (live, ready, metadata, model ready, model
metadata, infer) served by grpc.aio on the worker's event loop, answering as the REST API
does (``app.http.answering``: the same batching, prediction cache and routing of users to
their owners) and as the REST API's JSON says (``app.http.oip``). Tensors come in the typed
``contents`` or in ``raw_input_contents`` (Triton's clients send raw); outputs go back raw
when the request's inputs came raw, or when asked (the ``binary_data_output`` parameter, or
``binary_data`` per output), else typed. Errors are gRPC status codes: INVALID_ARGUMENT for a
malformed request, NOT_FOUND for an unknown model, version or user, UNAVAILABLE before a model
is loaded or while partitions move.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

import grpc
import mode
from faust import App
from grpc import aio

from app.errors import InvalidRequest, StreamrecError
from app.grpc.v2 import inference_pb2 as pb
from app.http.answering import Refused, answer, check, pick
from app.http.context import HttpContext
from app.http.errors import status_of
from app.http.health import readiness
from app.http.oip import EXTENSIONS, model_description, server_version
from app.http.tls import WebTls
from app.inference.api_models import ApiModel
from app.inference.protocol import (
    OUTPUTS,
    InputTensor,
    OutputTensor,
    answer_tensors,
    from_binary,
    query_of,
    to_binary,
)

__all__ = ["SERVICE", "InferenceServicer", "add_grpc_server", "rpc_handlers"]

logger = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
"""The protocol's service name: what a client's call names on the wire."""

CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
         409: grpc.StatusCode.FAILED_PRECONDITION, 503: grpc.StatusCode.UNAVAILABLE}  # fmt: skip
"""The gRPC status of each HTTP status the REST API answers with (INTERNAL otherwise)."""

Context = aio.ServicerContext[Any, Any]


def _parameters(params: Mapping[str, pb.InferParameter]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in params.items():
        choice = value.WhichOneof("parameter_choice")
        if choice is not None:
            out[key] = getattr(value, choice)
    return out


def _typed(tensor: pb.ModelInferRequest.InferInputTensor) -> list[object]:
    """The elements of a tensor sent in ``contents``."""
    c = tensor.contents
    if tensor.datatype == "BYTES":
        try:
            return [b.decode("utf-8") for b in c.bytes_contents]
        except UnicodeDecodeError:
            raise InvalidRequest(f"input {tensor.name!r}: an element is not UTF-8") from None
    if tensor.datatype == "INT64":
        return list(c.int64_contents)
    if tensor.datatype == "INT32":
        return list(c.int_contents)
    raise InvalidRequest(f"input {tensor.name!r}: datatype must be one of BYTES, INT64, INT32")


def input_tensors(request: pb.ModelInferRequest) -> list[InputTensor]:
    """The request's inputs, from ``contents`` or ``raw_input_contents``."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidRequest(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    tensors = []
    for n, tensor in enumerate(request.inputs):
        shape = list(tensor.shape)
        if raw:
            elements = from_binary(tensor.datatype, shape, raw[n], tensor.name)
        else:
            elements = _typed(tensor)
        tensors.append(InputTensor(tensor.name, tensor.datatype, shape, elements))
    return tensors


def _output(
    tensor: OutputTensor, raw: bool
) -> tuple[pb.ModelInferResponse.InferOutputTensor, bytes | None]:
    out = pb.ModelInferResponse.InferOutputTensor(
        name=tensor.name, datatype=tensor.datatype, shape=tensor.shape
    )
    if raw:
        return out, to_binary(tensor)
    if tensor.datatype == "BYTES":
        out.contents.bytes_contents.extend(str(e).encode() for e in tensor.elements)
    else:
        out.contents.fp32_contents.extend(float(e) for e in tensor.elements)
    return out, None


class InferenceServicer:
    """The six calls, each answering from the worker's ``HttpContext``."""

    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx

    async def _picked(self, name: str, version: str, context: Context) -> ApiModel:
        """The model a request names, or the call aborted with the REST answer's status."""
        try:
            return await pick(self.ctx, name, version)
        except Refused as exc:
            await _abort(context, exc.status, exc.message)

    async def server_live(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=bool(readiness(self.ctx)["ready"]))

    async def model_ready(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        picked = await self._picked(request.name, request.version, context)
        return pb.ModelReadyResponse(ready=picked.model.ready)

    async def server_metadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name="streamrec", version=server_version(), extensions=EXTENSIONS
        )

    async def model_metadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        picked = await self._picked(request.name, request.version, context)
        about = model_description(picked.model)
        tensors = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=about["name"], versions=about["versions"], platform=about["platform"],
            inputs=[tensors(**t) for t in about["inputs"]],
            outputs=[tensors(**t) for t in about["outputs"]],
        )  # fmt: skip

    async def model_infer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        ctx = self.ctx
        version = request.model_version
        path = f"/v2/models/{request.model_name}" + (f"/versions/{version}" if version else "")
        try:
            check(ctx, request.model_name, version)
            parameters = _parameters(request.parameters)
            query = query_of(input_tensors(request), parameters, ctx.default_k)
            wanted = _wanted(request, parameters)
            picked = await pick(ctx, request.model_name, version)
            found = await answer(ctx, picked, query, path + "/infer", forwarded=False)
        except Refused as exc:
            await _abort(context, exc.status, exc.message)
        except StreamrecError as exc:  # InvalidRequest, ModelNotReady
            await _abort(context, status_of(exc), str(exc))
        response = pb.ModelInferResponse(
            model_name=found.model_name, model_version=found.model_version, id=request.id
        )
        response.parameters["source"].string_param = found.source
        by_name = {t.name: t for t in answer_tensors(query, found.rows)}
        for name, raw in wanted.items():
            out, blob = _output(by_name[name], raw)
            response.outputs.append(out)
            if blob is not None:
                response.raw_output_contents.append(blob)
        return response


def _wanted(request: pb.ModelInferRequest, parameters: Mapping[str, object]) -> dict[str, bool]:
    """Output name -> raw. A response's outputs are all raw or all typed (the protocol lets
    raw_output_contents hold every output or none): raw when the inputs came raw or when any
    output, or the request, asks for binary data."""
    names = [o.name for o in request.outputs] or list(OUTPUTS)
    for name in names:
        if name not in OUTPUTS:
            raise InvalidRequest(f"unknown output {name!r}; the outputs are {', '.join(OUTPUTS)}")
    asked = parameters.get("binary_data_output") is True or any(
        _parameters(o.parameters).get("binary_data") is True for o in request.outputs
    )
    raw = bool(request.raw_input_contents) or asked
    return dict.fromkeys(names, raw)


async def _abort(context: Context, status: int, message: str) -> NoReturn:
    await context.abort(CODES.get(status, grpc.StatusCode.INTERNAL), message)
    raise AssertionError("abort returns by raising")  # pragma: no cover


def rpc_handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """The service's six unary calls under the protocol's service name."""
    calls: dict[str, tuple[Callable[..., Awaitable[Any]], Any]] = {
        "ServerLive": (servicer.server_live, pb.ServerLiveRequest),
        "ServerReady": (servicer.server_ready, pb.ServerReadyRequest),
        "ModelReady": (servicer.model_ready, pb.ModelReadyRequest),
        "ServerMetadata": (servicer.server_metadata, pb.ServerMetadataRequest),
        "ModelMetadata": (servicer.model_metadata, pb.ModelMetadataRequest),
        "ModelInfer": (servicer.model_infer, pb.ModelInferRequest),
    }
    return grpc.method_handlers_generic_handler(SERVICE, {
        name: grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=message.FromString,
            response_serializer=lambda response: response.SerializeToString(),
        )
        for name, (call, message) in calls.items()
    })  # fmt: skip


def _credentials(tls: WebTls) -> grpc.ServerCredentials:
    """The web server's certificate; a renewed one (``WebTls.reload``) is presented from the
    next handshake on, as the web server does."""
    served = tls.generation

    def renewed() -> grpc.ServerCertificateConfiguration | None:
        # gRPC asks before every handshake: None keeps the pair it has.
        nonlocal served
        if tls.generation == served:
            return None
        served = tls.generation
        return grpc.ssl_server_certificate_configuration([tls.pair])

    initial = grpc.ssl_server_certificate_configuration([tls.pair])
    # The stub's fetcher type leaves out None, which gRPC documents as "no change".
    return grpc.dynamic_ssl_server_credentials(initial, renewed)  # type: ignore[arg-type]


def add_grpc_server(
    app: App, ctx: HttpContext, tls: WebTls, bind: str, port: int, max_message_bytes: int
) -> None:
    """Serve the protocol on ``bind``:``port`` while the worker runs (started with the app's
    other services, after its tables); over TLS with the web server's certificate."""

    class GrpcServer(mode.Service):  # type: ignore[misc]  # mode's Service is untyped
        server: aio.Server | None = None

        async def on_start(self) -> None:
            options = [("grpc.max_receive_message_length", max_message_bytes),
                       ("grpc.max_send_message_length", max_message_bytes)]  # fmt: skip
            self.server = aio.server(options=options)
            self.server.add_generic_rpc_handlers((rpc_handlers(InferenceServicer(ctx)),))
            if tls.on:
                self.server.add_secure_port(f"{bind}:{port}", _credentials(tls))
            else:
                self.server.add_insecure_port(f"{bind}:{port}")
            await self.server.start()
            logger.info("Open Inference Protocol over gRPC%s on %s:%d",
                        " (TLS)" if tls.on else "", bind, port)  # fmt: skip

        async def on_stop(self) -> None:
            if self.server is not None:
                await self.server.stop(grace=1.0)

    app.service(GrpcServer)
