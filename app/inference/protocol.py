"""The Open Inference Protocol V2's inference requests and answers, whatever the transport.

A request has one input tensor: ``history`` (item ids; shape [L] for one history, [n, L] for
n of them, "" padding the shorter ones) or ``user_id`` (shape [n] or [n, 1]), with BYTES,
INT64 or INT32 elements, and the parameter ``top_k``. The answer is two outputs, ``item_ids``
(BYTES) and ``scores`` (FP32), of shape [n, K]; a one-dimensional history is answered [K],
as the API answered before it took batches. REST carries tensors as JSON or, with the binary
tensor data extension, as raw bytes after a JSON header (``binary``); gRPC in its own fields.
Pure code: the transports decode into ``InputTensor`` and encode ``OutputTensor``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.errors import InvalidRequest
from app.features.state import MAX_RECENT
from app.records import ScoredItem

__all__ = [
    "INPUTS", "MAX_ITEM_ID_CHARS", "MAX_ROWS", "OUTPUTS", "InputTensor", "OutputTensor", "Query",
    "answer_tensors", "bytes_elements", "from_binary", "query_of", "to_binary",
]  # fmt: skip

INPUTS = ("history", "user_id")
OUTPUTS = ("item_ids", "scores")
MAX_ITEM_ID_CHARS = 256
MAX_ROWS = 1000
"""Users or histories in one request: each is scored (and held) while the request waits."""
MAX_HISTORY = 10 * MAX_RECENT
"""Items in one history (the model reads the last ``max_len``; more is a mistake)."""
DATATYPES = ("BYTES", "INT64", "INT32")


@dataclass(frozen=True)
class InputTensor:
    """One input as a transport decoded it: its elements are str (BYTES) or int."""

    name: str
    datatype: str
    shape: Sequence[int]
    elements: Sequence[object]


@dataclass(frozen=True)
class OutputTensor:
    name: str
    datatype: str
    shape: list[int]
    elements: list[str] | list[float]


@dataclass(frozen=True)
class Query:
    """What to score: a history per row, or one user id per row."""

    input: str
    rows: list[list[str]]
    k: int
    batched: bool
    """Answer [n, K] (False: one 1-D history, answered [K])."""

    @property
    def user_ids(self) -> list[str]:
        return [row[0] for row in self.rows]


def query_of(
    tensors: Sequence[InputTensor], parameters: Mapping[str, object], default_k: int
) -> Query:
    """The query a request's inputs and parameters make; InvalidRequest says what is wrong."""
    if len(tensors) != 1 or tensors[0].name not in INPUTS:
        raise InvalidRequest("send exactly one input, named 'history' or 'user_id'")
    k = parameters.get("top_k", default_k)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
        raise InvalidRequest("parameters.top_k must be an integer from 1 to 1000")
    tensor = tensors[0]
    shape = list(tensor.shape)
    if tensor.datatype not in DATATYPES:
        raise InvalidRequest(f"input {tensor.name!r}: datatype must be one of "
                             f"{', '.join(DATATYPES)}, not {tensor.datatype!r}")  # fmt: skip
    if not 1 <= len(shape) <= 2 or any(d < 0 for d in shape):
        raise InvalidRequest(f"input {tensor.name!r}: shape must be [n] or [n, m], not {shape}")
    if int(np.prod(shape)) != len(tensor.elements):
        raise InvalidRequest(f"input {tensor.name!r}: shape {shape} does not match its "
                             f"{len(tensor.elements)} elements")  # fmt: skip
    ids = _ids(tensor)
    if tensor.name == "user_id":
        if len(shape) == 2 and shape[1] != 1:
            raise InvalidRequest(f"user_id: shape [n] or [n, 1], not {shape}")
        rows = [[user] for user in ids]
        batched = True
    elif len(shape) == 1:
        rows, batched = [ids], False
    else:
        width = shape[1]
        # "" pads the shorter histories of a [n, L] batch (BYTES only: 0 may be an item).
        rows = [[i for i in ids[r * width : (r + 1) * width] if i] for r in range(shape[0])]
        batched = True
    if not rows or len(rows) > MAX_ROWS:
        raise InvalidRequest(f"input {tensor.name!r}: from 1 to {MAX_ROWS} rows, not {len(rows)}")
    if tensor.name == "history" and max(map(len, rows)) > MAX_HISTORY:
        raise InvalidRequest(f"history: at most {MAX_HISTORY} items")
    return Query(tensor.name, rows, k, batched)


def _ids(tensor: InputTensor) -> list[str]:
    """The elements as ids: non-empty strings of at most MAX_ITEM_ID_CHARS characters (BYTES;
    "" only as a 2-D history's padding), or integers written in decimal."""
    padding = tensor.name == "history" and len(tensor.shape) == 2
    if tensor.datatype != "BYTES":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in tensor.elements):
            raise InvalidRequest(f"input {tensor.name!r}: every {tensor.datatype} element "
                                 "must be an integer")  # fmt: skip
        return [str(v) for v in tensor.elements]
    out = []
    for value in tensor.elements:
        ok = isinstance(value, str) and len(value) <= MAX_ITEM_ID_CHARS and (value or padding)
        if not ok:
            raise InvalidRequest(
                f"input {tensor.name!r}: every element must be a non-empty string of at most "
                f"{MAX_ITEM_ID_CHARS} characters"
            )
        out.append(str(value))
    return out


def answer_tensors(query: Query, answers: Sequence[Sequence[ScoredItem]]) -> list[OutputTensor]:
    """``item_ids`` and ``scores``: [n, K] (rows shorter than the longest padded with "" and
    0.0), or [K] for a single 1-D history."""
    width = max((len(a) for a in answers), default=0)
    items: list[str] = []
    scores: list[float] = []
    for answer in answers:
        items += [i.item_id for i in answer] + [""] * (width - len(answer))
        scores += [i.score for i in answer] + [0.0] * (width - len(answer))
    shape = [len(answers), width] if query.batched else [width]
    return [OutputTensor("item_ids", "BYTES", shape, items),
            OutputTensor("scores", "FP32", shape, scores)]  # fmt: skip


def bytes_elements(raw: bytes, count: int, name: str) -> list[str]:
    """BYTES elements of the binary form: each a 4-byte little-endian length, then its bytes."""
    out: list[str] = []
    at = 0
    for _ in range(count):
        if at + 4 > len(raw):
            raise InvalidRequest(f"input {name!r}: its binary data ends before element {len(out)}")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise InvalidRequest(f"input {name!r}: its binary data ends inside element {len(out)}")
        try:
            out.append(raw[at : at + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidRequest(f"input {name!r}: element {len(out)} is not UTF-8") from None
        at += size
    if at != len(raw):
        raise InvalidRequest(f"input {name!r}: {len(raw) - at} bytes after its elements")
    return out


_INT_TYPES: dict[str, str] = {"INT64": "<i8", "INT32": "<i4"}


def from_binary(datatype: str, shape: Sequence[int], raw: bytes, name: str) -> list[object]:
    """A tensor's elements from its binary form (``raw_input_contents`` in gRPC)."""
    count = int(np.prod(list(shape))) if shape else 0
    if datatype == "BYTES":
        return list(bytes_elements(raw, count, name))
    code = _INT_TYPES.get(datatype)
    if code is None:
        raise InvalidRequest(f"input {name!r}: datatype must be one of {', '.join(DATATYPES)}")
    dtype = np.dtype(code)
    if len(raw) != count * dtype.itemsize:
        raise InvalidRequest(f"input {name!r}: {len(raw)} bytes of data for {count} "
                             f"{datatype} elements")  # fmt: skip
    return [int(v) for v in np.frombuffer(raw, dtype=dtype)]


def to_binary(tensor: OutputTensor) -> bytes:
    """An output's binary form: BYTES length-prefixed, FP32 little-endian."""
    if tensor.datatype == "BYTES":
        parts = []
        for value in tensor.elements:
            data = str(value).encode()
            parts += [struct.pack("<I", len(data)), data]
        return b"".join(parts)
    return np.asarray(tensor.elements, dtype="<f4").tobytes()
