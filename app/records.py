"""Wire types: what comes in on the input topic and what goes out on the output topic.

msgspec decodes and validates the input in one C pass; the structs are the contract.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "EventType",
    "Interaction",
    "InteractionPayload",
    "Recommendation",
    "ScoredItem",
]

EventType = Literal["view", "click", "cart", "purchase", "rate"]

# Ids are opaque but printable: control characters in an id are a producer bug, not data.
_IdStr = Annotated[str, Meta(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
_IdInt = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
# Bounds reject inf (JSON 1e999 decodes to inf) and values no real producer sends.
_Rating = Annotated[float, Meta(ge=-1e6, le=1e6)]
_UnixSeconds = Annotated[float, Meta(ge=0, le=1e11)]


class InteractionPayload(msgspec.Struct, frozen=True):
    """The input value exactly as the contract allows it (unknown fields are ignored)."""

    user_id: _IdStr | _IdInt
    item_id: _IdStr | _IdInt
    event: EventType
    rating: _Rating | None = None
    ts: _UnixSeconds | None = None
    event_id: _IdStr | None = None


class Interaction(msgspec.Struct, frozen=True):
    """A validated interaction with ids normalised to strings and every field filled."""

    user_id: str
    item_id: str
    event: str
    rating: float | None
    ts: float
    event_id: str
    partition: int
    offset: int
    synthetic: bool = False
    """Marked synthetic by its producer (the ``streamrec.synthetic`` header, e.g. ``faust -A
    app verify``): served like any event, but not counted in trending, the prequential
    quality figures or retraining, which are about the users' own behaviour."""


class ScoredItem(msgspec.Struct, frozen=True):
    """One recommended item and its model score."""

    item_id: str
    score: float


class Recommendation(msgspec.Struct, frozen=True):
    """One recommendation update: the output value, also kept as the user's latest."""

    user_id: str
    items: list[ScoredItem]
    model: str
    model_version: str
    variant: str
    """Traffic arm that produced it: ``main``, ``canary`` or ``shadow`` (shadow topic only)."""
    event_id: str
    event_ts: float
    emitted_ts: float
    source: str = "model"
    """Where the items come from: ``model``; ``trending`` (a user the model cannot read, given
    the items trending now); ``popularity`` (such a user before any trend is known: the
    model's training-time popularity order)."""
