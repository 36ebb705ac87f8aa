"""The state store the batch core reads and writes: a small protocol and a dict-backed one.

The core names the input record each read or write belongs to, because a partitioned store
(Faust's tables) keeps a user's state in the partition of the user's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from app.features.state import UserFeatureState
from app.pipeline.decode import InputRecord

__all__ = ["DictStore", "StateStore", "StateWrite"]


class StateWrite(NamedTuple):
    """A user's new feature state, attributed to the user's newest record."""

    user_id: str
    record: InputRecord
    state: UserFeatureState


class StateStore(Protocol):
    """Read many users' states at once, write a batch's changes at once."""

    def read_many(self, wanted: Sequence[tuple[str, InputRecord]]) -> list[UserFeatureState | None]:
        """The state of each (user, record the read is for); None for a new user."""
        ...

    def write_many(self, writes: Sequence[StateWrite]) -> None:
        """Store each user's state."""
        ...


class DictStore:
    """States in a dict: for tests, and to read the core's behaviour by."""

    def __init__(self) -> None:
        self.states: dict[str, UserFeatureState] = {}

    def read_many(self, wanted: Sequence[tuple[str, InputRecord]]) -> list[UserFeatureState | None]:
        return [self.states.get(user_id) for user_id, _ in wanted]

    def write_many(self, writes: Sequence[StateWrite]) -> None:
        for write in writes:
            self.states[write.user_id] = write.state
