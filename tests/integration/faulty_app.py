"""streamrec with an injected fault: ``faust -A tests.integration.faulty_app worker``.

STREAMREC_TEST_FAULT=once: the third micro-batch raises once (a transient failure).
STREAMREC_TEST_FAULT=poison: every attempt at a batch holding an item "poison" raises.
STREAMREC_TEST_FAULT=hang: the agent stops taking batches after its first one (no batch is
running, so only the lag-without-commits check can see it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from app.main import build
from app.settings import get_settings

__all__ = ["app"]

_streamrec = build(get_settings())
app = _streamrec.app
pipeline = _streamrec.pipeline

_process = pipeline._process
_calls = 0


async def _faulty_process(stream: Any, events: Sequence[Any], *args: Any) -> None:
    global _calls
    _calls += 1
    fault = os.environ.get("STREAMREC_TEST_FAULT", "")
    if fault == "once" and _calls == 3:
        raise RuntimeError("injected transient failure")
    if fault == "poison" and any(b'"poison"' in (e.message.value or b"") for e in events):
        raise RuntimeError("injected failure: poison item in the batch")
    await _process(stream, events, *args)


pipeline._process = _faulty_process  # type: ignore[method-assign]

_process_batch = pipeline.process_batch


async def _hanging_process_batch(stream: Any, events: Sequence[Any]) -> None:
    global _calls
    if _calls >= 1:
        await asyncio.Event().wait()
    await _process_batch(stream, events)


if os.environ.get("STREAMREC_TEST_FAULT") == "hang":
    pipeline.process_batch = _hanging_process_batch  # type: ignore[method-assign]
