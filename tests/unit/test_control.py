"""Control-topic commands: old records are skipped, malformed or refused ones never raise."""

from __future__ import annotations

import pytest

from app.control import ControlListener, ModelCommand
from app.errors import ModelLoadError


async def test_commands_run_once_stamped_after_start_and_bad_ones_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[ModelCommand] = []

    async def handler(command: ModelCommand) -> None:
        ran.append(command)
        if command.action == "rollback":
            raise ModelLoadError("itemsvd: no earlier version served by this worker")

    listener = ControlListener(["127.0.0.1:1"], "control", handler)
    now = listener.started_ms
    await listener._handle(b'{"model": "itemsvd", "action": "reload"}', now - 1)  # before start
    await listener._handle(b'{"model": "itemsvd", "action": "reload"}', now + 1)
    await listener._handle(b'{"model": "itemsvd", "action": "delete"}', now + 2)
    await listener._handle(None, now + 3)
    await listener._handle(b'{"model": "itemsvd", "action": "rollback"}', now + 4)
    assert ran == [ModelCommand("itemsvd", "reload"), ModelCommand("itemsvd", "rollback")]
    assert "ignoring" in caplog.text and "no earlier version" in caplog.text
