"""Answers for users a model cannot read: the items trending now, not a frozen prior.

A user none of whose recent items is in the model's vocabulary (no history, or only items
newer than the model) gets from the model only its training-time popularity order. While the
deployment's trending board (``app.trending``) has a current window, such a user gets its top
items instead, minus what they saw (score: the item's count in the window), topped up from
the model's list if too few are left (score 0, so the list stays in score order). Each answer
says where it came from: ``model``, ``trending`` or ``popularity`` (cold, no trends known).
Pure code: the board is read through a callable, once per batch at most.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from app.features.state import UserFeatureState
from app.records import ScoredItem

__all__ = ["MODEL", "POPULARITY", "TRENDING", "ColdStart", "Trending", "is_cold"]

MODEL, TRENDING, POPULARITY = "model", "trending", "popularity"

Trending = Callable[[], Sequence[tuple[str, int]]]
"""The current window's top (item, count), best first; empty while none is known."""


def is_cold(state: UserFeatureState, vocab: Mapping[str, int]) -> bool:
    """Can the model read none of the user's recent items (its input window is empty)?"""
    # Newest first: a known user's last item is almost always known, so this stops at once.
    return not any(item in vocab for item in reversed(state.recent))


class ColdStart:
    """Replaces the model's answer for cold rows by the trending items they have not seen."""

    def __init__(self, trending: Trending | None = None) -> None:
        self.trending = trending

    def apply(
        self,
        vocab: Mapping[str, int],
        rows: Sequence[tuple[UserFeatureState, int]],
        ranked: list[list[ScoredItem]],
    ) -> list[str]:
        """Each row's source; cold rows' entries of ``ranked`` (row: (state, k)) are replaced."""
        sources = [MODEL] * len(rows)
        top: Sequence[tuple[str, int]] | None = None
        for n, (state, k) in enumerate(rows):
            if not is_cold(state, vocab):
                continue
            if top is None:
                top = self.trending() if self.trending is not None else ()
            if not top:
                sources[n] = POPULARITY
                continue
            seen = set(state.seen)
            items = [ScoredItem(item, float(count)) for item, count in top if item not in seen]
            del items[k:]
            if len(items) < k:
                taken = {i.item_id for i in items}
                items += [ScoredItem(i.item_id, 0.0) for i in ranked[n] if i.item_id not in taken]
                del items[k:]
            ranked[n] = items
            sources[n] = TRENDING
        return sources
