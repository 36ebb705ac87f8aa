"""The headers of dead letters and of redriven records: what each says, and how to read them.

A dead letter names its cause and where its record was read (``streamrec.error.*``,
``streamrec.source.*``, written by ``app.pipeline.decode.dead_letter``). A record redriven
from the dead-letter topic carries where it was redriven from (``streamrec.redrive.*``); if it
fails again, its new dead letter keeps those headers, so a loop shows.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ERROR_CLASS", "ERROR_MESSAGE", "ERROR_REASON", "REDRIVE_COUNT", "REDRIVE_OFFSET",
    "REDRIVE_PARTITION", "REDRIVE_PREFIX", "REDRIVE_REASON", "REDRIVE_TIME", "REDRIVE_TOPIC",
    "SOURCE_OFFSET", "SOURCE_PARTITION", "SOURCE_TIMESTAMP", "SOURCE_TOPIC", "SYNTHETIC_HEADER",
    "carried_headers", "header_pairs", "redrive_origin", "synthetic_mark",
]  # fmt: skip

ERROR_CLASS = "streamrec.error.class"
ERROR_REASON = "streamrec.error.reason"
ERROR_MESSAGE = "streamrec.error.message"
SOURCE_TOPIC = "streamrec.source.topic"
SOURCE_PARTITION = "streamrec.source.partition"
SOURCE_OFFSET = "streamrec.source.offset"
SOURCE_TIMESTAMP = "streamrec.source.timestamp"

SYNTHETIC_HEADER = "streamrec.synthetic"
"""Header marking a record as synthetic traffic (its value names the producer: ``verify``):
served, but kept out of trending, the quality figures and retraining. A dead letter and a
redriven record keep it, so test traffic stays test traffic all the way round."""

REDRIVE_PREFIX = "streamrec.redrive."
REDRIVE_TOPIC = REDRIVE_PREFIX + "topic"
"""The dead-letter topic the record was redriven from; with partition and offset, the very
dead letter."""
REDRIVE_PARTITION = REDRIVE_PREFIX + "partition"
REDRIVE_OFFSET = REDRIVE_PREFIX + "offset"
REDRIVE_TIME = REDRIVE_PREFIX + "time"
"""When it was redriven (ISO 8601, UTC)."""
REDRIVE_REASON = REDRIVE_PREFIX + "reason"
"""The reason it had been dead-lettered for."""
REDRIVE_COUNT = REDRIVE_PREFIX + "count"
"""How many times this event has been redriven (2 and up: it failed again after a redrive)."""


def header_pairs(headers: object) -> list[tuple[str, bytes]]:
    """(name, value) pairs of a record's headers, which clients give as a sequence of pairs,
    a mapping (Faust) or None."""
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in items:  # type: ignore[attr-defined]
        out.append((str(name), value if isinstance(value, bytes) else str(value).encode()))
    return out


def redrive_origin(headers: object) -> list[tuple[str, bytes]]:
    """The ``streamrec.redrive.*`` headers among ``headers`` (none for a first delivery)."""
    return [(n, v) for n, v in header_pairs(headers) if n.startswith(REDRIVE_PREFIX)]


def synthetic_mark(headers: object) -> list[tuple[str, bytes]]:
    """The ``streamrec.synthetic`` header among ``headers``, if there is one."""
    return [(n, v) for n, v in header_pairs(headers) if n == SYNTHETIC_HEADER]


def carried_headers(headers: object) -> list[tuple[str, bytes]]:
    """What a dead letter keeps of its record's headers: the redrive origin and the mark."""
    return [
        (n, v)
        for n, v in header_pairs(headers)
        if n.startswith(REDRIVE_PREFIX) or n == SYNTHETIC_HEADER
    ]
