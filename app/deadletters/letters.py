"""A dead letter as read back from the dead-letter topic, and the summary of many by reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.deadletters.headers import (
    ERROR_CLASS,
    ERROR_MESSAGE,
    ERROR_REASON,
    REDRIVE_COUNT,
    REDRIVE_PREFIX,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TIMESTAMP,
    SOURCE_TOPIC,
    header_pairs,
)

__all__ = ["UNKNOWN", "DeadLetter", "ReasonCount", "Summary", "iso_ms", "summarize"]

UNKNOWN = "unknown"
"""The reason of a record without streamrec's headers (written to the topic by something else)."""


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 in UTC, to the millisecond."""
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic: its position, bytes and headers."""

    partition: int
    offset: int
    timestamp_ms: int
    """When it was dead-lettered (the record's timestamp)."""
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def of(cls, record: Any) -> DeadLetter:
        """From an aiokafka ``ConsumerRecord`` (or anything with its attributes)."""
        return cls(
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            header_pairs(record.headers),
        )

    def header(self, name: str) -> str | None:
        """The last value of header ``name``, as text (None if absent)."""
        found = [v for n, v in self.headers if n == name]
        return found[-1].decode("utf-8", "replace") if found else None

    @property
    def position(self) -> tuple[int, int]:
        return self.partition, self.offset

    @property
    def reason(self) -> str:
        return self.header(ERROR_REASON) or UNKNOWN

    @property
    def redrive_count(self) -> int:
        """How often the event was redriven before it landed here again (0: never)."""
        count = self.header(REDRIVE_COUNT)
        return int(count) if count and count.isdigit() else 0

    def describe(self, topic: str) -> dict[str, object]:
        """Everything about it, for a person (``dlq --show``): values as text where they are."""
        source = {
            "topic": self.header(SOURCE_TOPIC),
            "partition": _int(self.header(SOURCE_PARTITION)),
            "offset": _int(self.header(SOURCE_OFFSET)),
            "timestamp": self.header(SOURCE_TIMESTAMP),
        }
        redriven = {n.removeprefix(REDRIVE_PREFIX): v.decode("utf-8", "replace")
                    for n, v in self.headers if n.startswith(REDRIVE_PREFIX)}  # fmt: skip
        return {
            "dead_letter": {
                "topic": topic,
                "partition": self.partition,
                "offset": self.offset,
                "time": iso_ms(self.timestamp_ms),
            },
            "reason": self.reason,
            "error_class": self.header(ERROR_CLASS),
            "error": self.header(ERROR_MESSAGE),
            "source": source,
            "redriven_from": redriven or None,
            "key": _text(self.key),
            "value": _text(self.value),
            "event": _json(self.value),
            "headers": _by_name(self.headers),
        }


@dataclass
class ReasonCount:
    """The dead letters of one reason: how many, when the first and last came, and how many
    of them were redriven already."""

    records: int = 0
    first_ms: int = 0
    last_ms: int = 0
    redriven: int = 0


class Summary:
    """Counts by reason, added to one letter at a time (a large topic is not held whole)."""

    def __init__(self, redriven: Iterable[tuple[int, int]] = ()) -> None:
        self.redriven = set(redriven)
        """Positions redriven already."""
        self._by_reason: dict[str, ReasonCount] = {}

    def add(self, letter: DeadLetter) -> None:
        count = self._by_reason.setdefault(letter.reason, ReasonCount(first_ms=letter.timestamp_ms))
        count.records += 1
        count.first_ms = min(count.first_ms, letter.timestamp_ms)
        count.last_ms = max(count.last_ms, letter.timestamp_ms)
        count.redriven += letter.position in self.redriven

    @property
    def by_reason(self) -> dict[str, ReasonCount]:
        """Reason -> its counts, sorted by reason."""
        return dict(sorted(self._by_reason.items()))


def summarize(
    letters: Iterable[DeadLetter], redriven: Iterable[tuple[int, int]] = ()
) -> dict[str, ReasonCount]:
    """Reason -> its counts, by reason; ``redriven``: positions redriven already."""
    summary = Summary(redriven)
    for letter in letters:
        summary.add(letter)
    return summary.by_reason


def _int(text: str | None) -> int | None:
    return int(text) if text and text.lstrip("-").isdigit() else None


def _json(data: bytes | None) -> object:
    """The value as the JSON it holds (None if it holds none): the original event."""
    try:
        return msgspec.json.decode(data) if data else None
    except msgspec.DecodeError:
        return None


def _by_name(headers: list[tuple[str, bytes]]) -> dict[str, str | list[str]]:
    """Headers by name (a name sent more than once: its values in order)."""
    out: dict[str, str | list[str]] = {}
    for name, value in headers:
        text = value.decode("utf-8", "replace")
        seen = out.get(name)
        out[name] = text if seen is None else [*([seen] if isinstance(seen, str) else seen), text]
    return out


def _text(data: bytes | None) -> str | None:
    """UTF-8 as it is; other bytes as Python writes them (so nothing is hidden)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(data)
