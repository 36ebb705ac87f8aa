"""What the batch core reads of a consumed record, and how it turns one into an Interaction.

A Faust ``Message`` and an aiokafka ``ConsumerRecord`` both have these attributes, so the
adapters hand their records over as they are: no copy per record on the hot path.
"""

from __future__ import annotations

import logging
from typing import Protocol

from app.errors import InvalidInteraction
from app.pipeline.decode import RecordSource, dead_letter, decode_interaction
from app.pipeline.result import DeadLetterOut
from app.records import Interaction

__all__ = ["InputRecord", "dead_letter_for", "decode_record"]

logger = logging.getLogger(__name__)


class InputRecord(Protocol):
    """One record of the input topic."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def headers(self) -> object:
        """A sequence of (name, bytes) pairs, or a mapping (Faust), or None."""
        ...

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch (the producer's or the broker's time)."""
        ...


def _source(record: InputRecord) -> RecordSource:
    return RecordSource(record.topic, record.partition, record.offset, record.timestamp)


def decode_record(record: InputRecord, *, max_bytes: int, max_future_skew_s: float) -> Interaction:
    """``decode_interaction`` of the record's key and value; InvalidInteraction if bad."""
    return decode_interaction(
        record.key,
        record.value,
        _source(record),
        max_bytes=max_bytes,
        max_future_skew_s=max_future_skew_s,
    )


def dead_letter_for(record: InputRecord, error: BaseException) -> DeadLetterOut:
    """The DLQ record for ``record`` (original bytes, headers naming the cause), logged."""
    letter = dead_letter(record.key, record.value, _source(record), error)
    reason = error.reason if isinstance(error, InvalidInteraction) else "processing_error"
    logger.warning(
        "dead letter %s-%d-%d: %s: %s",
        record.topic, record.partition, record.offset, reason, error,
    )  # fmt: skip
    return DeadLetterOut(reason, (letter.key, letter.value, letter.headers))
