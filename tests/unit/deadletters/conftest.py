"""A factory of dead letters as the worker writes them (``dead_letter``'s headers)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.deadletters import DeadLetter
from app.pipeline.decode import dead_letter
from tests.support.pipeline import Record

T0_MS = 1_796_601_600_000  # 2026-12-07T00:00:00Z


@pytest.fixture
def letter_factory() -> Callable[..., DeadLetter]:
    """``make(partition, offset, reason=..., ...)``: a dead letter read back from the DLQ."""

    def make(
        partition: int = 0,
        offset: int = 0,
        *,
        reason: str = "processing_error",
        at_ms: int = T0_MS,
        key: bytes | None = b"u1",
        value: bytes | None = b'{"user_id":"u1","item_id":"9","event":"view"}',
        redriven: tuple[tuple[str, bytes], ...] = (),
    ) -> DeadLetter:
        from app.errors import InvalidInteraction

        error = (RuntimeError("model call failed") if reason == "processing_error"
                 else InvalidInteraction(reason, f"bad: {reason}"))  # fmt: skip
        source = Record(key, value, "interactions", 3, 40 + offset, 1_796_601_599.5, redriven)
        _, (k, v, headers) = dead_letter(source, error)
        return DeadLetter(partition, offset, at_ms, k, v, headers)

    return make
