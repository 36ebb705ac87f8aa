"""Faust codec for table values: msgpack via msgspec, decoded straight into the value type."""

from __future__ import annotations

from typing import Any

import msgspec
from faust.serializers.codecs import Codec

__all__ = ["StructCodec"]


class StructCodec(Codec):  # type: ignore[misc]  # faust's Codec is untyped
    """Encodes a msgspec Struct type compactly; decoding validates against the type."""

    def __init__(self, type_: type[msgspec.Struct]) -> None:
        super().__init__()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(type_)

    def _dumps(self, obj: Any) -> bytes:
        return self._encoder.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self._decoder.decode(s)
