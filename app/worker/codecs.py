"""Faust codec for table values: msgpack via msgspec, decoded straight into the value type."""

from __future__ import annotations

from typing import Any

import msgspec
from faust.serializers.codecs import Codec

__all__ = ["StructCodec"]

# First byte of a msgpack map (fixmap, map 16, map 32): a value written by a version that
# encoded structs with their field names. Anything else is read as the array.
_MAP_MARKERS = frozenset((*range(0x80, 0x90), 0xDE, 0xDF))


class StructCodec(Codec):  # type: ignore[misc]  # faust's Codec is untyped
    """Encodes a msgspec Struct as the msgpack array of its fields; decoding validates against
    the type and still reads the field-name maps earlier versions wrote.

    No field names: a one-event user state is 111 bytes instead of 268. Fields are read by
    position, so the type may only gain fields at the end, with defaults: a shorter array
    (written before) decodes with those defaults, and an older version reading a longer one
    ignores the extra fields.
    """

    def __init__(self, type_: type[msgspec.Struct]) -> None:
        super().__init__()
        self._type = type_
        self._encoder = msgspec.msgpack.Encoder()
        self._array_decoder = msgspec.msgpack.Decoder(_array_like(type_))
        self._map_decoder = msgspec.msgpack.Decoder(type_)

    def _dumps(self, obj: Any) -> bytes:
        # The tuple encodes as an array_like struct would, without making the type itself
        # array_like: its JSON (the users view) keeps the field names.
        return self._encoder.encode(msgspec.structs.astuple(obj))

    def _loads(self, s: bytes) -> Any:
        try:
            if s and s[0] in _MAP_MARKERS:
                return self._map_decoder.decode(s)
            return self._type(*msgspec.structs.astuple(self._array_decoder.decode(s)))
        except msgspec.DecodeError as exc:
            # Faust reports str(exc) alone (as a ValueDecodeError): name what was expected.
            raise type(exc)(f"not a {self._type.__name__} value: {exc}") from exc


def _array_like(type_: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The same fields and defaults as an array_like struct: what the decoder validates."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in msgspec.structs.fields(type_):
        if f.default is not msgspec.NODEFAULT:
            fields.append((f.name, f.type, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((f.name, f.type, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, f.type))
    return msgspec.defstruct(f"{type_.__name__}Array", fields, array_like=True)
