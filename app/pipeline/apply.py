"""A batch's decoded events applied to their users' states, one store read per user.

Later events of a user in the batch see the earlier ones. An event id the user's state has
applied already (a record sent twice) is a dead letter; a replay (a position the state has
passed: the batch is read again after a crash) changes nothing but still gets its update,
as its first one may be lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.errors import InvalidInteraction
from app.features.state import UserFeatureState, apply, is_duplicate, is_replay
from app.pipeline.decode import InputRecord, dead_letter
from app.pipeline.prequential import Prequential
from app.pipeline.result import DeadLetterOut
from app.pipeline.store import StateStore
from app.records import Interaction

__all__ = ["Applied", "Decoded", "apply_events"]

Decoded = tuple[int, InputRecord, Interaction]
"""(position in the batch, record, its interaction)."""


@dataclass
class Applied:
    """The events a batch applied, in input order, and what the rest of the batch needs."""

    valid: list[tuple[InputRecord, Interaction]] = field(default_factory=list)
    """Events applied (or replayed): each gets an update."""
    states: list[UserFeatureState] = field(default_factory=list)
    """The user's state after each valid event."""
    replays: set[int] = field(default_factory=set)
    """Positions in ``valid`` of the replays."""
    newest: dict[str, tuple[InputRecord, UserFeatureState]] = field(default_factory=dict)
    """Per user: the newest record of the batch and the state after it (what is written)."""
    prequential: Prequential = field(default_factory=Prequential)
    """What each user was shown before the batch (updated as the batch's updates are built)."""


def apply_events(
    decoded: Sequence[Decoded],
    store: StateStore,
    dead: dict[int, DeadLetterOut],
    *,
    event_fields: bool,
) -> Applied:
    """Apply each event to its user's state (``event_fields``: keep the per-event fields a
    served model reads); duplicates go to ``dead`` by their position in the batch."""
    first: dict[str, InputRecord] = {}
    for _, record, interaction in decoded:
        first.setdefault(interaction.user_id, record)
    stored = store.read_many(list(first.items()))
    out = Applied()
    current: dict[str, UserFeatureState] = {}
    for user_id, state in zip(first, stored, strict=True):
        state = state or UserFeatureState()
        current[user_id] = state
        out.prequential.remember(user_id, state)
    valid, states, newest = out.valid, out.states, out.newest
    for n, record, interaction in decoded:
        user_id = interaction.user_id
        state = current[user_id]
        if is_duplicate(state, interaction):
            dead[n] = dead_letter(record, _duplicate(interaction))
            newest.setdefault(user_id, (record, state))
            continue
        if is_replay(state, interaction):
            out.replays.add(len(valid))
        state = current[user_id] = apply(state, interaction, event_fields=event_fields)
        newest[user_id] = (record, state)
        valid.append((record, interaction))
        states.append(state)
    return out


def _duplicate(interaction: Interaction) -> InvalidInteraction:
    return InvalidInteraction(
        "duplicate_event",
        f"event id {interaction.event_id!r} was already applied for user "
        f"{interaction.user_id!r} (a record sent twice); it is not applied again",
    )
