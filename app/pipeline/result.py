"""What one micro-batch produced: a value the adapters deliver, acknowledge and count.

The core touches no metrics: the counts and timings of a batch travel in its result, and the
agent adds them to the worker's metrics once per batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from app.pipeline.decode import InputRecord
    from app.pipeline.store import StateWrite

__all__ = [
    "BatchResult", "DeadLetterOut", "LatestUpdate", "ModelCalls", "Moved", "OutRecord", "Quality",
]  # fmt: skip


OutRecord = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
"""(key, value, headers) of a record to produce; aiokafka wants the headers as a list."""


class Moved(NamedTuple):
    """A record to produce again to the input topic, at its original timestamp."""

    record: OutRecord
    timestamp_ms: int


class DeadLetterOut(NamedTuple):
    """A record for the dead-letter topic and its reason (a metric label)."""

    reason: str
    record: OutRecord


class LatestUpdate(NamedTuple):
    """A user's newest update of the batch (what the latest table and serving stores keep)."""

    user_id: str
    partition: int
    offset: int
    """Input position of the event it answers: a store keeps the update with the highest."""
    value: bytes
    record: InputRecord
    """The input record it answers (the Faust adapter finds the table partition from it)."""


@dataclass
class Quality:
    """Prequential counts of one arm: events judged, and those whose item had been shown."""

    events: int = 0
    hits: int = 0


@dataclass
class ModelCalls:
    """A batch's model calls by variant, over every attempt: how long each that answered
    took, and how many failed."""

    seconds: list[tuple[str, float]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class BatchResult:
    """Everything a batch leads to, in input order within each list."""

    outputs: list[OutRecord] = field(default_factory=list)
    """Updates for the recommendations topic (one per event, or per user with COALESCE)."""
    shadows: list[OutRecord] = field(default_factory=list)
    """The shadow arm's updates, for the shadow topic."""
    dead_letters: list[DeadLetterOut] = field(default_factory=list)
    """Rejected records of the batch, in input order."""
    writes: int = 0
    """Users whose state was written."""
    states: list[StateWrite] = field(default_factory=list)
    """Those writes, for a store whose changelog is sent with the batch's other records."""
    latest: list[LatestUpdate] = field(default_factory=list)
    """Each user's newest update, for users with a new (not replayed) event."""
    updates_by_variant: Counter[str] = field(default_factory=Counter)
    quality: dict[str, Quality] = field(default_factory=dict)
    """Prequential counts by variant (main, canary, shadow)."""
    latencies: list[float] = field(default_factory=list)
    """Seconds from each output's input record timestamp until it was built."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """The records' mean wait before the batch (queue), and the decode, state and inference
    time of the attempt that succeeded."""
    moved: list[Moved] = field(default_factory=list)
    """Records of the batch that belong on another partition, to produce there."""
    by_item: list[OutRecord] = field(default_factory=list)
    """The batch's events keyed by item, for the trending count (TRENDING)."""
    coalesced: int = 0
    """Updates degradation left out (each user's earlier events of the batch)."""
    events: int = 0
    """Records processed here (not moved); with none, the batch ran no step at all."""
    misrouted: Counter[str] = field(default_factory=Counter)
    """Moved records by the partitioner their producer likely used."""
    degraded: bool = False
    """Whether the batch ran degraded (``degrade.Degradation``)."""
    retries: int = 0
    """Failed attempts that were tried again."""
    failed: bool = False
    """Every attempt failed: the batch's records went to the dead-letter topic."""
    model_calls: ModelCalls = field(default_factory=ModelCalls)
