"""Which dead letters an operator picks (by reason, partition and offsets, time), parsed from
the command line's words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.deadletters.letters import DeadLetter, iso_ms

__all__ = ["Selection", "parse_position", "parse_time_ms"]


@dataclass(frozen=True)
class Selection:
    """Dead letters matching every criterion given (an empty selection matches all)."""

    reasons: frozenset[str] = frozenset()
    partition: int | None = None
    from_offset: int | None = None
    """First offset picked (inclusive); offsets are per partition."""
    to_offset: int | None = None
    """Last offset picked (inclusive)."""
    since_ms: int | None = None
    """Dead-lettered at or after this time (ms since the epoch)."""
    until_ms: int | None = None
    """Dead-lettered before this time (ms since the epoch)."""

    @property
    def empty(self) -> bool:
        return self == Selection()

    def matches(self, letter: DeadLetter) -> bool:
        """Is ``letter`` picked?"""
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (self.partition is None or letter.partition == self.partition)
            and (self.from_offset is None or letter.offset >= self.from_offset)
            and (self.to_offset is None or letter.offset <= self.to_offset)
            and (self.since_ms is None or letter.timestamp_ms >= self.since_ms)
            and (self.until_ms is None or letter.timestamp_ms < self.until_ms)
        )

    def describe(self) -> str:
        """The criteria in words, for the command's report."""
        parts = []
        if self.reasons:
            parts.append("reason " + " or ".join(sorted(self.reasons)))
        if self.partition is not None:
            parts.append(f"partition {self.partition}")
        if self.from_offset is not None or self.to_offset is not None:
            low = "" if self.from_offset is None else self.from_offset
            high = "" if self.to_offset is None else self.to_offset
            parts.append(f"offsets {low}..{high}")
        if self.since_ms is not None:
            parts.append(f"since {iso_ms(self.since_ms)}")
        if self.until_ms is not None:
            parts.append(f"until {iso_ms(self.until_ms)}")
        return ", ".join(parts) or "every dead letter"


def parse_position(text: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` -> (partition, offset); ValueError saying the form if not."""
    partition, sep, offset = text.strip().partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{text!r} is not PARTITION:OFFSET (e.g. 0:42)")
    return int(partition), int(offset)


def parse_time_ms(text: str) -> int:
    """An ISO 8601 time (``2026-12-07T01:00``, ``...Z``, ``...+01:00``; UTC when no zone
    is given) -> ms since the epoch; ValueError saying the form if not."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-12-07T01:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)
