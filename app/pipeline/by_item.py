"""A batch's events keyed by item, for the trending count (the by-item topic)."""

from __future__ import annotations

from collections.abc import Container, Sequence

import msgspec

from app.pipeline.decode import InputRecord
from app.pipeline.result import OutRecord
from app.records import Interaction

__all__ = ["by_item_records"]

_encode = msgspec.json.Encoder().encode


def by_item_records(
    valid: Sequence[tuple[InputRecord, Interaction]], replays: Container[int]
) -> list[OutRecord]:
    """One record per item of the batch: key the item id, value its events' times (a JSON
    list). Replays are left out: a record read again is not counted again. So are synthetic
    events (``faust -A app verify``): their items are not trends, and their times (now) would
    move the event-time windows past a replay of real events."""
    stamps: dict[str, list[float]] = {}
    for n, (_, interaction) in enumerate(valid):
        if n not in replays and not interaction.synthetic:
            stamps.setdefault(interaction.item_id, []).append(interaction.ts)
    return [(item.encode(), _encode(ts), []) for item, ts in stamps.items()]
