"""Redrive, the pure part: the record sent back to the input topic, the markers that make each
dead letter go back once, and the plan of a run.

Each dead letter redriven gets a marker in a compacted topic beside the dead-letter topic
(``<DLQ_TOPIC>.redriven``), keyed by its ``partition:offset``: ``pending`` before it is sent,
``sent`` once the broker has it. A later run reads the markers and sends no letter marked
``sent``, whatever its selection; a letter left ``pending`` (a run that stopped between the
two) is reported and sent only when asked, since it may have gone already. This needs no
transactions (the embedded broker has none) and no consumer group per selection (two
overlapping selections would send the same letter twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import msgspec

from app.deadletters.headers import (
    REDRIVE_COUNT,
    REDRIVE_OFFSET,
    REDRIVE_PARTITION,
    REDRIVE_REASON,
    REDRIVE_TIME,
    REDRIVE_TOPIC,
    synthetic_mark,
)
from app.deadletters.letters import DeadLetter, iso_ms
from app.deadletters.selection import Selection

if TYPE_CHECKING:  # the pipeline's decode imports this package's headers
    from app.pipeline.result import OutRecord

__all__ = [
    "MARKER_CONFIG", "MarkerState", "RedrivePlan", "decode_marker", "marker_record",
    "marker_topic", "plan_redrive", "redriven_record",
]  # fmt: skip

MarkerState = Literal["pending", "sent"]

MARKER_CONFIG = {"cleanup.policy": "compact"}
"""The marker topic keeps the last marker of each dead letter for as long as the topic lives."""


class _Marker(msgspec.Struct, frozen=True):
    state: MarkerState
    time: str
    to: str
    """The topic the letter was sent to."""


_decode = msgspec.json.Decoder(_Marker)


def marker_topic(dlq_topic: str) -> str:
    """Where the redrive markers of ``dlq_topic`` are kept."""
    return dlq_topic + ".redriven"


def redriven_record(letter: DeadLetter, dlq_topic: str, now_ms: int) -> OutRecord:
    """The letter's key and value as they were read first, with headers saying which dead
    letter it is and when it was redriven (an earlier redrive's headers are replaced; the
    count goes on)."""
    headers = [
        (REDRIVE_TOPIC, dlq_topic.encode()),
        (REDRIVE_PARTITION, str(letter.partition).encode()),
        (REDRIVE_OFFSET, str(letter.offset).encode()),
        (REDRIVE_TIME, iso_ms(now_ms).encode()),
        (REDRIVE_REASON, letter.reason.encode()),
        (REDRIVE_COUNT, str(letter.redrive_count + 1).encode()),
        *synthetic_mark(letter.headers),
    ]
    return letter.key, letter.value, headers


def marker_record(letter: DeadLetter, state: MarkerState, to: str, now_ms: int) -> OutRecord:
    """The marker saying ``letter`` is being sent (``pending``) or was sent to ``to``."""
    value = msgspec.json.encode(_Marker(state, iso_ms(now_ms), to))
    return f"{letter.partition}:{letter.offset}".encode(), value, []


def decode_marker(key: bytes | None, value: bytes | None) -> tuple[tuple[int, int], MarkerState]:
    """((partition, offset), state) of a marker record; ValueError if it is not one."""
    partition, _, offset = (key or b"").decode("ascii", "replace").partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise ValueError(f"not a redrive marker key: {key!r}")
    try:
        marker = _decode.decode(value or b"")
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a redrive marker value: {exc}") from None
    return (int(partition), int(offset)), marker.state


@dataclass
class RedrivePlan:
    """What a run sends, and the selected letters it leaves, with why."""

    send: list[DeadLetter] = field(default_factory=list)
    sent_before: list[DeadLetter] = field(default_factory=list)
    """Selected, and sent by an earlier run: not sent again."""
    unsure: list[DeadLetter] = field(default_factory=list)
    """Selected, and marked ``pending`` by a run that stopped before confirming them."""


def plan_redrive(
    letters: Iterable[DeadLetter],
    selection: Selection,
    markers: Mapping[tuple[int, int], MarkerState],
    *,
    resend_pending: bool = False,
) -> RedrivePlan:
    """The selected letters, split by their markers (``resend_pending``: send the unsure)."""
    plan = RedrivePlan()
    for letter in letters:
        if not selection.matches(letter):
            continue
        state = markers.get(letter.position)
        if state == "sent":
            plan.sent_before.append(letter)
        elif state == "pending" and not resend_pending:
            plan.unsure.append(letter)
        else:
            plan.send.append(letter)
    return plan
