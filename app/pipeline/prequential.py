"""Prequential judging: was an event's item among the user's latest recommendations before it?

The stream's own online HR@K per traffic arm. Each event of a user who had recommendations
already is judged against the update the user was shown last: the main or canary arm's (a
user is sticky to an arm, so it came from the user's arm now), and the shadow's own while the
shadow runs. A user's second event of a batch is judged against the update of the first.
Replays are not judged (they were when first read), nor synthetic events (the
``streamrec.synthetic`` header: ``verify``'s traffic is no user's behaviour).
"""

from __future__ import annotations

from collections.abc import Mapping

from app.features.state import UserFeatureState
from app.pipeline.result import Quality
from app.pipeline.variants import SHADOW
from app.records import ScoredItem

__all__ = ["Prequential"]


class Prequential:
    """What each user of a batch was shown last, per arm, and the arms' counts so far."""

    __slots__ = ("quality", "shadow_shown", "shown")

    def __init__(self) -> None:
        self.shown: dict[str, tuple[str, ...]] = {}
        """User -> the items of the user's latest update (main or canary)."""
        self.shadow_shown: dict[str, tuple[str, ...]] = {}
        """User -> the items of the shadow's latest update for the user."""
        self.quality: dict[str, Quality] = {}
        """Variant -> the events judged and their hits."""

    def remember(self, user_id: str, state: UserFeatureState) -> None:
        """What the user's stored state says the user was shown before the batch."""
        self.shown[user_id] = state.recommended
        self.shadow_shown[user_id] = state.shadow_recommended

    def judge(
        self, user_id: str, item_id: str, variant_of: Mapping[str, str], shadow: bool
    ) -> None:
        """Count an event against the user's latest updates: the user's arm's (by
        ``variant_of``), and with ``shadow`` (it runs) the shadow's."""
        before = self.shown.get(user_id)
        if before:
            self._count(variant_of[user_id], item_id in before)
        if shadow:
            before = self.shadow_shown.get(user_id)
            if before:
                self._count(SHADOW, item_id in before)

    def show(self, user_id: str, items: list[ScoredItem]) -> None:
        """The user's arm answered a new event with ``items``."""
        self.shown[user_id] = tuple(i.item_id for i in items)

    def show_shadow(self, user_id: str, items: list[ScoredItem]) -> None:
        """The shadow answered a new event with ``items``."""
        self.shadow_shown[user_id] = tuple(i.item_id for i in items)

    def _count(self, variant: str, hit: bool) -> None:
        quality = self.quality.get(variant)
        if quality is None:
            quality = self.quality[variant] = Quality()
        quality.events += 1
        quality.hits += hit
