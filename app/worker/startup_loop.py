"""Broker calls a worker makes before Faust starts, on an event loop of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_before_faust"]

T = TypeVar("T")


def run_before_faust(work: Coroutine[Any, Any, T], timeout_s: float) -> T:
    """``work`` run to its end within ``timeout_s`` (TimeoutError past it), on a new loop that
    is not set as current and is closed after: Faust makes its own loop later."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(work, timeout_s))
    finally:
        loop.close()
