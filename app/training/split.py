"""Chronological leave-one-out split: per user, last item = test, second-to-last = validation."""

from __future__ import annotations

from collections import defaultdict

import msgspec

from app.features.state import UserFeatureState, apply
from app.records import Interaction
from app.training.movielens import Rating

__all__ = ["LeaveOneOut", "leave_one_out", "stream_state"]


class LeaveOneOut(msgspec.Struct, frozen=True):
    """Per-user item sequences and the held-out items."""

    train: dict[str, list[str]]
    """Each user's items in time order, without the validation and test items."""
    valid: dict[str, str]
    test: dict[str, str]
    events: dict[str, list[Rating]] = {}
    """Each user's interactions in time order (all of them): what the stream would have seen."""

    def states(self, upto: str) -> dict[str, UserFeatureState]:
        """Each held-out user's feature state, built by the stream's own ``features.apply``:
        before the validation item (``upto="valid"``) or before the test item (``"test"``)."""
        held_out = self.valid if upto == "valid" else self.test
        drop = 2 if upto == "valid" else 1
        return {u: stream_state(self.events[u][:-drop]) for u in held_out}


def stream_state(events: list[Rating]) -> UserFeatureState:
    """The state the stream keeps for a user after these interactions (as ``rate`` events)."""
    state = UserFeatureState()
    for offset, r in enumerate(events):
        event = Interaction(
            user_id=r.user_id, item_id=r.item_id, event="rate", rating=r.rating,
            ts=float(r.ts), event_id=f"ml-{r.user_id}-{offset}", partition=0, offset=offset,
        )  # fmt: skip
        state = apply(state, event)
    return state


def leave_one_out(ratings: list[Rating]) -> LeaveOneOut:
    """Split time-ordered ratings; users with fewer than 3 interactions stay in train only."""
    seqs: dict[str, list[str]] = defaultdict(list)
    events: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        seqs[r.user_id].append(r.item_id)
        events[r.user_id].append(r)
    train: dict[str, list[str]] = {}
    valid: dict[str, str] = {}
    test: dict[str, str] = {}
    for user, items in seqs.items():
        if len(items) < 3:
            train[user] = items
            continue
        train[user], valid[user], test[user] = items[:-2], items[-2], items[-1]
    return LeaveOneOut(train=train, valid=valid, test=test, events=dict(events))
