"""Control-topic commands: old records are skipped; unsigned, badly signed, stale, malformed
or refused ones are ignored (and said so), never raised."""

from __future__ import annotations

import time

import msgspec
import pytest

from app.admin import AdminAuth
from app.brokers import Brokers
from app.control import ControlListener, ModelCommand
from app.errors import ModelLoadError

AUTH = AdminAuth("control-test-token", max_age_s=60)
NOWHERE = Brokers.plain(["127.0.0.1:1"])


def signed(action: str, auth: AdminAuth = AUTH, age_s: float = 0.0) -> bytes:
    command = ModelCommand("itemsvd", action)  # type: ignore[arg-type]
    ts = round(time.time() - age_s, 3)
    sig = auth.sign(command.content(), ts)
    return msgspec.json.encode(msgspec.structs.replace(command, ts=ts, sig=sig))


async def test_only_signed_recent_commands_stamped_after_start_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    rejected: list[str] = []

    async def handler(command: ModelCommand) -> None:
        ran.append(command.action)
        if command.action == "rollback":
            raise ModelLoadError("itemsvd: no earlier version served by this worker")

    listener = ControlListener(NOWHERE, "control", handler, AUTH, rejected.append)
    now = listener.started_ms
    await listener._handle(signed("reload"), now - 1)  # before start
    await listener._handle(signed("reload"), now + 1)
    await listener._handle(b'{"model": "itemsvd", "action": "reload"}', now + 2)
    await listener._handle(signed("reload", AdminAuth("another-token")), now + 3)
    await listener._handle(signed("reload", age_s=120), now + 4)
    forged = msgspec.json.decode(signed("reload"))
    forged["action"] = "rollback"  # a signature covers the action too
    await listener._handle(msgspec.json.encode(forged), now + 5)
    await listener._handle(b'{"model": "itemsvd", "action": "delete"}', now + 6)
    await listener._handle(None, now + 7)
    await listener._handle(signed("rollback"), now + 8)
    assert ran == ["reload", "rollback"]
    assert rejected == ["unsigned", "bad_signature", "stale", "bad_signature"]
    assert "ignoring" in caplog.text and "no earlier version" in caplog.text
    assert "control-test-token" not in caplog.text


async def test_without_a_token_every_command_is_ignored() -> None:
    ran: list[ModelCommand] = []
    rejected: list[str] = []

    async def handler(command: ModelCommand) -> None:
        ran.append(command)

    listener = ControlListener(NOWHERE, "control", handler, AdminAuth(None),
                               rejected.append)  # fmt: skip
    await listener._handle(signed("reload"), listener.started_ms + 1)
    await listener._handle(b'{"model": "itemsvd", "action": "reload"}', listener.started_ms + 2)
    assert ran == [] and rejected == ["admin_disabled", "admin_disabled"]
