"""A gRPC load process for the inference bench: ``clients`` concurrent callers of ModelInfer
(raw tensors, as Triton's clients send them) for ``seconds``; prints each call's latency.
Each request's history is the given items and two random ones out of 1..N_ITEMS.

    python -m devtools.bench.grpc_load HOST:PORT CLIENTS SECONDS MODEL TOP_K N_ITEMS ITEM...

One process drives one channel; the bench starts several processes so that Python's one core
per process is not what limits the rate.
"""

from __future__ import annotations

import asyncio
import random
import struct
import sys
import time
from collections.abc import Callable

import msgspec
from grpc import aio

from app.grpc.server import SERVICE
from app.grpc.v2 import inference_pb2 as pb

__all__ = ["history_request", "main"]


def history_request(model: str, items: list[str], top_k: int) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="history", datatype="BYTES", shape=[len(items)]
    )
    request = pb.ModelInferRequest(model_name=model, inputs=[tensor])
    request.raw_input_contents.append(
        b"".join(struct.pack("<I", len(i)) + i.encode() for i in items)
    )
    request.parameters["top_k"].int64_param = top_k
    return request


async def _load(
    target: str, clients: int, seconds: float, request: Callable[[], pb.ModelInferRequest]
) -> None:
    latencies: list[float] = []
    errors = 0
    async with aio.insecure_channel(target) as channel:
        infer: aio.UnaryUnaryMultiCallable[pb.ModelInferRequest, pb.ModelInferResponse]
        infer = channel.unary_unary(
            f"/{SERVICE}/ModelInfer", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.ModelInferResponse.FromString,
        )  # fmt: skip
        await infer(request(), timeout=30)  # connected and warm before the clock starts
        end = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < end:
                try:
                    await infer(request(), timeout=30)
                except aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
    sys.stdout.write(msgspec.json.encode({"latencies_ms": latencies, "errors": errors}).decode())


def main(argv: list[str]) -> None:
    target, clients, seconds, model, top_k, n_items, *items = argv

    def request() -> pb.ModelInferRequest:
        more = [str(random.randint(1, int(n_items))) for _ in range(2)]
        return history_request(model, [*items, *more], int(top_k))

    asyncio.run(_load(target, int(clients), float(seconds), request))


if __name__ == "__main__":
    main(sys.argv[1:])
