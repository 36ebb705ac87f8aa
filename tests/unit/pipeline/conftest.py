"""Fixtures for driving the batch core with no broker (helpers: ``tests.support.pipeline``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.inference.batcher import rank_states
from app.inference.cold_start import Trending
from app.pipeline import BatchConfig, Ranker
from app.pipeline.routing import KeyRouting
from tests.support.pipeline import CoreUnderTest, Record, record_maker


@pytest.fixture
def record_factory() -> Callable[..., Record]:
    """``make(user, item, **fields)``: records at the next offset of their partition."""
    return record_maker()


@pytest.fixture
def core_factory() -> Callable[..., CoreUnderTest]:
    """``make(rank=..., routing=..., trends=..., **config)``: a core ranking with ``rank``
    (default: the model); with ``routing``, records not on their key's partition are moved;
    users the model cannot read get ``trends()`` (default: no trends known)."""

    def make(
        rank: Ranker = rank_states,
        routing: KeyRouting | None = None,
        trends: Trending | None = None,
        **config: Any,
    ) -> CoreUnderTest:
        return CoreUnderTest(BatchConfig(**config), rank, routing, trends)

    return make
