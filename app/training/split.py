"""Chronological leave-one-out split: per user, last item = test, second-to-last = validation."""

from __future__ import annotations

from collections import defaultdict

import msgspec

from app.movielens import Rating

__all__ = ["LeaveOneOut", "leave_one_out"]


class LeaveOneOut(msgspec.Struct, frozen=True):
    """Per-user item sequences and the held-out items."""

    train: dict[str, list[str]]
    """Each user's items in time order, without the validation and test items."""
    valid: dict[str, str]
    test: dict[str, str]


def leave_one_out(ratings: list[Rating]) -> LeaveOneOut:
    """Split time-ordered ratings; users with fewer than 3 interactions stay in train only."""
    seqs: dict[str, list[str]] = defaultdict(list)
    for r in ratings:
        seqs[r.user_id].append(r.item_id)
    train: dict[str, list[str]] = {}
    valid: dict[str, str] = {}
    test: dict[str, str] = {}
    for user, items in seqs.items():
        if len(items) < 3:
            train[user] = items
            continue
        train[user], valid[user], test[user] = items[:-2], items[-2], items[-1]
    return LeaveOneOut(train=train, valid=valid, test=test)
