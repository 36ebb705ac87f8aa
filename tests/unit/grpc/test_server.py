"""The gRPC Open Inference Protocol service, called over a real channel: the same answers as
REST for typed and raw tensors, and each error with its status code."""

from __future__ import annotations

import filecmp
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from app.grpc.server import SERVICE, InferenceServicer, rpc_handlers
from app.grpc.v2 import inference_pb2 as pb
from app.http.context import HttpContext
from app.inference.protocol import bytes_elements
from devtools.net import free_port

ROOT = Path(__file__).resolve().parents[3]
PROTO = Path("app/grpc/v2/inference.proto")


class Client:
    """Calls by the protocol's method paths, as any client of the protocol does."""

    def __init__(self, channel: aio.Channel) -> None:
        self.channel = channel

    async def call(self, method: str, request: Any, answer: Any) -> Any:
        rpc = self.channel.unary_unary(
            f"/{SERVICE}/{method}", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=answer.FromString,
        )  # fmt: skip
        return await rpc(request, timeout=10)


@pytest.fixture
async def served(
    context_factory: Callable[..., HttpContext],
) -> AsyncIterator[tuple[HttpContext, Client]]:
    ctx = context_factory()
    server = aio.server()
    server.add_generic_rpc_handlers((rpc_handlers(InferenceServicer(ctx)),))
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield ctx, Client(channel)
    await server.stop(None)


def history(items: list[str], raw: bool = False, **parameters: Any) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(name="history", datatype="BYTES",
                                                   shape=[len(items)])  # fmt: skip
    request = pb.ModelInferRequest(model_name="itemsvd", inputs=[tensor])
    if raw:
        request.raw_input_contents.append(
            b"".join(struct.pack("<I", len(i)) + i.encode() for i in items)
        )
    else:
        request.inputs[0].contents.bytes_contents.extend(i.encode() for i in items)
    for key, value in parameters.items():
        request.parameters[key].int64_param = value
    return request


async def test_health_metadata_and_readiness(served: tuple[HttpContext, Client]) -> None:
    ctx, client = served
    assert (await client.call("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse)).live
    meta = await client.call("ServerMetadata", pb.ServerMetadataRequest(),
                             pb.ServerMetadataResponse)  # fmt: skip
    assert meta.name == "streamrec" and list(meta.extensions) == ["binary_tensor_data"]
    ready = pb.ModelReadyRequest(name="itemsvd")
    assert not (await client.call("ModelReady", ready, pb.ModelReadyResponse)).ready
    await ctx.model.load()
    assert (await client.call("ModelReady", ready, pb.ModelReadyResponse)).ready
    model = await client.call("ModelMetadata", pb.ModelMetadataRequest(name="itemsvd"),
                              pb.ModelMetadataResponse)  # fmt: skip
    assert list(model.versions) == ["1"] and [t.name for t in model.inputs] == [
        "history",
        "user_id",
    ]


async def test_typed_and_raw_requests_get_the_same_items(
    served: tuple[HttpContext, Client],
) -> None:
    ctx, client = served
    await ctx.model.load()
    typed = await client.call("ModelInfer", history(["50", "172"], top_k=3), pb.ModelInferResponse)
    assert (typed.model_version, [o.name for o in typed.outputs]) == ("1", ["item_ids", "scores"])
    items = [b.decode() for b in typed.outputs[0].contents.bytes_contents]
    assert len(items) == 3 and list(typed.outputs[0].shape) == [3]
    raw = await client.call("ModelInfer", history(["50", "172"], raw=True, top_k=3),
                            pb.ModelInferResponse)  # fmt: skip
    assert len(raw.raw_output_contents) == 2 and not raw.outputs[0].contents.bytes_contents
    assert bytes_elements(raw.raw_output_contents[0], 3, "item_ids") == items


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda r: setattr(r, "model_name", "other"), grpc.StatusCode.NOT_FOUND),
        (lambda r: setattr(r, "model_version", "9"), grpc.StatusCode.NOT_FOUND),
        (lambda r: r.inputs[0].shape.append(2), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda r: setattr(r.inputs[0], "name", "items"), grpc.StatusCode.INVALID_ARGUMENT),
        (
            lambda r: r.parameters["top_k"].CopyFrom(pb.InferParameter(int64_param=0)),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
async def test_each_error_has_its_status_code(
    served: tuple[HttpContext, Client], change: Callable[[Any], object], code: grpc.StatusCode
) -> None:
    ctx, client = served
    await ctx.model.load()
    request = history(["50"])
    change(request)
    with pytest.raises(aio.AioRpcError) as raised:
        await client.call("ModelInfer", request, pb.ModelInferResponse)
    assert raised.value.code() == code and raised.value.details()


async def test_no_model_loaded_yet_is_unavailable(served: tuple[HttpContext, Client]) -> None:
    _, client = served
    with pytest.raises(aio.AioRpcError) as raised:
        await client.call("ModelInfer", history(["50"]), pb.ModelInferResponse)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_generated_messages_are_current(tmp_path: Path) -> None:
    """``make grpc`` was run after the last change of the .proto."""
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={out}",
         f"--pyi_out={out}", str(PROTO)],
        check=True, cwd=ROOT,
    )  # fmt: skip
    for name in ("inference_pb2.py", "inference_pb2.pyi"):
        made, kept = out / PROTO.parent / name, ROOT / PROTO.parent / name
        assert filecmp.cmp(made, kept, shallow=False), f"{name}: run make grpc"
