"""Input records -> ``Interaction``, or a dead letter that says exactly why not.

Nothing here touches Kafka: a record is read through ``InputRecord`` (a Faust ``Message`` and
an aiokafka ``ConsumerRecord`` both have its attributes, so the adapters hand their records
over as they are: no copy per record on the hot path), and every rule of the input contract
is testable without a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Protocol, cast, get_args

import msgspec

from app.deadletters.headers import (
    ERROR_CLASS,
    ERROR_MESSAGE,
    ERROR_REASON,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TIMESTAMP,
    SOURCE_TOPIC,
    SYNTHETIC_HEADER,
    carried_headers,
)
from app.errors import InvalidInteraction
from app.pipeline.result import DeadLetterOut
from app.records import EventType, Interaction, InteractionPayload

__all__ = [
    "SYNTHETIC_HEADER", "InputRecord", "Position", "RecordSource", "dead_letter",
    "decode_interaction", "decode_record", "is_synthetic",
]  # fmt: skip

logger = logging.getLogger(__name__)

_decoder = msgspec.json.Decoder(InteractionPayload)
# Reasons are metric labels and DLQ headers: a small fixed set, stable across releases.
_REASON_BY_PREFIX = (
    ("Expected `object`", "not_object"),
    ("Object missing required field", "missing_field"),
)
# What a producer may send where msgspec says only "Invalid enum value 'x' - at `$.event`".
_ALLOWED = {"$.event": ", ".join(get_args(EventType))}


class Position(Protocol):
    """Where a record was read: enough to find it again in the source topic."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> float:
        """Seconds since the epoch (the producer's or the broker's time)."""
        ...


class InputRecord(Position, Protocol):
    """One record of the input topic."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> object:
        """A sequence of (name, bytes) pairs, or a mapping (Faust), or None."""
        ...


class RecordSource(msgspec.Struct, frozen=True):
    """A ``Position`` for readers whose records say it otherwise (aiokafka's milliseconds)."""

    topic: str
    partition: int
    offset: int
    timestamp: float


def decode_record(record: InputRecord, *, max_bytes: int, max_future_skew_s: float) -> Interaction:
    """``decode_interaction`` of the record's key and value (synthetic if its headers say
    so); InvalidInteraction if bad."""
    return decode_interaction(
        record.key, record.value, record, max_bytes=max_bytes,
        max_future_skew_s=max_future_skew_s, synthetic=is_synthetic(record.headers),
    )  # fmt: skip


def is_synthetic(headers: object) -> bool:
    """Do a record's headers (aiokafka's (name, bytes) pairs, or a mapping) mark it
    synthetic? Most records have none: one truth test each."""
    if not headers:
        return False
    if isinstance(headers, Mapping):
        return SYNTHETIC_HEADER in headers
    # A loop, not any(): no generator to build for every record that carries headers.
    for name, _ in cast(Iterable[tuple[str, bytes]], headers):  # noqa: SIM110
        if name == SYNTHETIC_HEADER:
            return True
    return False


def decode_interaction(
    key: bytes | None,
    value: bytes | None,
    source: Position,
    *,
    max_bytes: int,
    max_future_skew_s: float,
    now: float | None = None,
    synthetic: bool = False,
) -> Interaction:
    """Validate one input record against the contract; raise ``InvalidInteraction`` if not."""
    if not key:
        raise InvalidInteraction("missing_key", "record key must be the user id (UTF-8)")
    if not value:
        raise InvalidInteraction("missing_value", "record value is empty or null")
    if len(value) > max_bytes:
        raise InvalidInteraction(
            "too_large", f"value is {len(value)} bytes, more than the {max_bytes} allowed"
        )
    try:
        payload = _decoder.decode(value)
    except msgspec.ValidationError as exc:
        text = _with_allowed_values(str(exc))
        reason = next((r for p, r in _REASON_BY_PREFIX if text.startswith(p)), "invalid_field")
        raise InvalidInteraction(reason, text) from None
    except msgspec.DecodeError as exc:
        raise InvalidInteraction("invalid_json", str(exc)) from None
    except UnicodeDecodeError as exc:
        raise InvalidInteraction("invalid_json", f"value is not UTF-8: {exc}") from None
    except RecursionError:
        raise InvalidInteraction("invalid_json", "value is nested too deeply") from None
    try:
        key_text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInteraction("invalid_key", "record key is not UTF-8") from None
    user_id = str(payload.user_id)
    if key_text != user_id:
        raise InvalidInteraction(
            "key_mismatch",
            f"record key {key_text!r} differs from user_id {user_id!r}; "
            "the key must be the user id so state stays on one partition",
        )
    ts = source.timestamp if payload.ts is None else payload.ts
    limit = (time.time() if now is None else now) + max_future_skew_s
    if ts > limit:
        raise InvalidInteraction("bad_timestamp", f"ts {ts} is in the future (limit {limit:.0f})")
    return Interaction(
        user_id=user_id,
        item_id=str(payload.item_id),
        event=payload.event,
        rating=payload.rating,
        ts=ts,
        event_id=payload.event_id or f"{source.topic}-{source.partition}-{source.offset}",
        partition=source.partition,
        offset=source.offset,
        synthetic=synthetic,
    )


def dead_letter(record: InputRecord, error: BaseException, *, log: bool = True) -> DeadLetterOut:
    """The DLQ record for ``error`` (logged unless ``log`` is False: a failed batch says it
    once for all its records): the record's key and value untouched, headers naming the cause
    and where the record was read, where it was redriven from if it was
    (``faust -A app dlq --redrive``), so a record failing again shows as such, and its
    synthetic mark if it had one."""
    reason = error.reason if isinstance(error, InvalidInteraction) else "processing_error"
    headers = [
        (ERROR_CLASS, type(error).__name__.encode()),
        (ERROR_REASON, reason.encode()),
        (ERROR_MESSAGE, str(error)[:1000].encode("utf-8", "replace")),
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
        (SOURCE_TIMESTAMP, repr(record.timestamp).encode()),
        *carried_headers(record.headers),
    ]
    if log:
        logger.warning(
            "dead letter %s-%d-%d: %s: %s",
            record.topic, record.partition, record.offset, reason, error,
        )  # fmt: skip
    return DeadLetterOut(reason, (record.key, record.value, headers))


def _with_allowed_values(text: str) -> str:
    """A refused enum value's message, with the values the contract allows there."""
    if text.startswith("Invalid enum value"):
        allowed = _ALLOWED.get(text.rpartition("at `")[2].rstrip("`"))
        if allowed:
            return f"{text} (allowed: {allowed})"
    return text
