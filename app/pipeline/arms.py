"""Top-K for a batch's rows, one model call per traffic arm, with the candidate's fallbacks.

A canary that fails gives its rows to the main model (counted as its error): the candidate
must never cost an update. The shadow failing costs only shadow updates. The main model
failing fails the batch (the core retries it, then dead-letters it). Rows the model cannot
read get the trending items (``ColdStart``); every answer says its source. Each call's time
and each failure is noted in the batch's ``ModelCalls`` (the agent counts them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from app.features.state import UserFeatureState
from app.inference.batcher import rank_states
from app.inference.cold_start import ColdStart
from app.inference.scorer import Scorer
from app.pipeline.result import ModelCalls
from app.pipeline.variants import MAIN, SHADOW, Arms
from app.records import ScoredItem

__all__ = ["ArmRanker", "Ranked", "Ranker", "Row"]

logger = logging.getLogger(__name__)

Ranker = Callable[[Scorer, Sequence[UserFeatureState], int], Awaitable[list[list[ScoredItem]]]]
"""Top-K per state in one model call: ``rank_states``, or the prediction cache's ``rank``."""

Row = tuple[int, str, UserFeatureState]
"""(position among the batch's valid events, user id, state after the event)."""

Ranked = tuple[str, Scorer, list[ScoredItem], str]
"""(variant, the scorer that answered, items, source: ``model``, ``trending``, ...)."""

Answer = tuple[list[ScoredItem], str]
"""(items, source) of one row."""


class ArmRanker:
    """Routes each row to its user's arm and ranks each arm's rows together."""

    def __init__(
        self,
        rank: Ranker,
        top_k: int,
        direct: Ranker = rank_states,
        cold_start: ColdStart | None = None,
    ) -> None:
        self._rank = rank
        self._direct = direct
        self.top_k = top_k
        self.cold_start = cold_start or ColdStart()

    async def rank(
        self, arms: Arms, rows: Sequence[Row], calls: ModelCalls, *, cached: bool = True
    ) -> dict[int, Ranked]:
        """Position -> (variant, scorer, items) for every row; ``cached`` False goes straight
        to the model (``direct``), past the prediction cache."""
        groups: dict[str, list[Row]] = {}
        for row in rows:
            groups.setdefault(arms.variant_of(row[1]), []).append(row)
        ranked: dict[int, Ranked] = {}
        for variant, group in groups.items():
            scorer = arms.scorer(variant)
            try:
                answers = await self._rank_with(variant, scorer, group, calls, cached)
            except Exception:
                if variant == MAIN:
                    raise
                logger.exception("%s %s/%s failed on %d rows; the main model answers them",
                                 variant, scorer.name, scorer.version, len(group))  # fmt: skip
                variant, scorer = MAIN, arms.main
                answers = await self._rank_with(variant, scorer, group, calls, cached)
            for (n, _, _), (items, source) in zip(group, answers, strict=True):
                ranked[n] = (variant, scorer, items, source)
        return ranked

    async def rank_shadow(
        self, arms: Arms, rows: Sequence[Row], calls: ModelCalls
    ) -> dict[int, Answer]:
        """The shadow arm's top-K for the same rows; empty without a shadow or on its failure."""
        if arms.shadow is None:
            return {}
        try:
            answers = await self._rank_with(SHADOW, arms.shadow, rows, calls)
        except Exception:
            logger.exception("shadow %s/%s failed on %d rows; no shadow updates for them",
                             arms.shadow.name, arms.shadow.version, len(rows))  # fmt: skip
            return {}
        return {n: answer for (n, _, _), answer in zip(rows, answers, strict=True)}

    async def _rank_with(
        self,
        variant: str,
        scorer: Scorer,
        rows: Sequence[Row],
        calls: ModelCalls,
        cached: bool = True,
    ) -> list[Answer]:
        t0 = time.perf_counter()
        rank = self._rank if cached else self._direct
        states = [state for _, _, state in rows]
        try:
            ranked = await rank(scorer, states, self.top_k)
        except Exception:
            calls.errors[variant] += 1
            raise
        calls.seconds.append((variant, time.perf_counter() - t0))
        sources = self.cold_start.apply(scorer.vocab, [(s, self.top_k) for s in states], ranked)
        return list(zip(ranked, sources, strict=True))
