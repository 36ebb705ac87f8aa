"""streamrec with an injected fault: ``faust -A tests.support.faulty_app worker``.

Faults come through the collaborators ``app.main.build`` takes, not through private methods:
STREAMREC_TEST_FAULT=once: the third model call raises once (a transient failure).
STREAMREC_TEST_FAULT=poison: every model call for a batch holding an item "poison" raises.
STREAMREC_TEST_FAULT=stuck: a model call for a batch holding an item "stuck" never returns.
STREAMREC_TEST_FAULT=hang: the batch policy stops giving batches after the first one (no
batch is running, so only the lag-without-commits check can see it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from app.features.state import UserFeatureState
from app.inference.batcher import rank_states
from app.main import build
from app.records import ScoredItem
from app.settings import get_settings
from app.worker.batching import BatchPolicy, BatchSource

__all__ = ["app"]

FAULT = os.environ.get("STREAMREC_TEST_FAULT", "")
_calls = 0


async def faulty_rank(
    scorer: Any, states: Sequence[UserFeatureState], k: int
) -> list[list[ScoredItem]]:
    global _calls
    _calls += 1
    if FAULT == "once" and _calls == 3:
        raise RuntimeError("injected transient failure")
    if FAULT == "poison" and any("poison" in state.recent for state in states):
        raise RuntimeError("injected failure: poison item in the batch")
    if FAULT == "stuck" and any("stuck" in state.recent for state in states):
        await asyncio.Event().wait()
    return await rank_states(scorer, states, k)


def hang_after_first(take: BatchPolicy) -> BatchPolicy:
    """The first batch, then nothing: the second one is taken (the first is acked once
    delivered) and never handed on."""

    async def batches(source: BatchSource) -> AsyncIterator[Sequence[Any]]:
        taken = 0
        async for records in take(source):
            taken += 1
            if taken > 1:
                await asyncio.Event().wait()
            yield records

    return batches


settings = get_settings()
app = build(settings, rank=faulty_rank, batches=hang_after_first if FAULT == "hang" else None).app
