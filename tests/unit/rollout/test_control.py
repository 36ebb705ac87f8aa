"""Control-topic commands: one-shot commands run only on the workers of their time; rollout
commands fold into the state also when read back; unsigned, badly signed, stale, malformed,
replayed or refused ones are ignored (and said so), never raised."""

from __future__ import annotations

import time

import msgspec
import pytest

from app.errors import ModelLoadError
from app.kafka.brokers import Brokers
from app.rollout.admin import AdminAuth
from app.rollout.control import ControlListener, ModelCommand
from app.rollout.state import RolloutState

AUTH = AdminAuth("control-test-token", max_age_s=60)
NOWHERE = Brokers.plain(["127.0.0.1:1"])


def signed(
    action: str, arg: str = "", auth: AdminAuth = AUTH, age_s: float = 0.0, model: str = "itemsvd"
) -> bytes:
    command = ModelCommand(model, action, arg)  # type: ignore[arg-type]
    ts = round(time.time() - age_s, 3)
    sig = auth.sign(command.content(), ts)
    return msgspec.json.encode(msgspec.structs.replace(command, ts=ts, sig=sig))


def listener_for(
    ran: list[tuple[str, RolloutState]], auth: AdminAuth = AUTH, rejected: list[str] | None = None
) -> ControlListener:
    async def handler(command: ModelCommand, state: RolloutState) -> None:
        ran.append((command.action, state))
        if command.action == "rollback":
            raise ModelLoadError("itemsvd: no earlier version served by this worker")

    out = [] if rejected is None else rejected
    return ControlListener(NOWHERE, "control", handler, auth, out.append, model="itemsvd")


async def test_only_signed_recent_commands_stamped_after_start_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[tuple[str, RolloutState]] = []
    rejected: list[str] = []
    listener = listener_for(ran, rejected=rejected)
    listener._synced = True  # the topic's history has been read
    now = listener.started_ms
    await listener._handle(signed("reload"), now - 1)  # before start
    await listener._handle(signed("reload"), now + 1)
    await listener._handle(b'{"model": "itemsvd", "action": "reload"}', now + 2)
    await listener._handle(signed("reload", auth=AdminAuth("another-token")), now + 3)
    await listener._handle(signed("reload", age_s=120), now + 4)
    forged = msgspec.json.decode(signed("reload"))
    forged["action"] = "rollback"  # a signature covers the action too
    await listener._handle(msgspec.json.encode(forged), now + 5)
    await listener._handle(b'{"model": "itemsvd", "action": "delete"}', now + 6)
    await listener._handle(None, now + 7)
    await listener._handle(signed("rollback"), now + 8)
    await listener._handle(signed("reload", model="hybrid"), now + 9)  # not served here
    assert [action for action, _ in ran] == ["reload", "rollback"]
    assert rejected == ["unsigned", "bad_signature", "stale", "bad_signature"]
    assert "ignoring" in caplog.text and "no earlier version" in caplog.text
    assert "control-test-token" not in caplog.text


async def test_without_a_token_every_command_is_ignored() -> None:
    ran: list[tuple[str, RolloutState]] = []
    rejected: list[str] = []
    listener = listener_for(ran, AdminAuth(None), rejected)
    listener._synced = True
    await listener._handle(signed("reload"), listener.started_ms + 1)
    await listener._handle(b'{"model": "itemsvd", "action": "reload"}', listener.started_ms + 2)
    assert ran == [] and rejected == ["admin_disabled", "admin_disabled"]


async def test_rollout_commands_read_back_from_the_topic_rebuild_the_state() -> None:
    ran: list[tuple[str, RolloutState]] = []
    listener = listener_for(ran)
    before = listener.started_ms - 1
    # Sent before this worker started, so older than the age limit would allow live.
    await listener._handle(signed("canary", "2:20", age_s=3600), before)
    await listener._handle(signed("reload", age_s=3500), before)  # folded, not run
    await listener._handle(signed("canary", "2:40", age_s=3400), before)
    await listener._handle(signed("canary", "9:90", auth=AdminAuth("x"), age_s=3300), before)
    await listener._handle(signed("canary", "2:20", age_s=3600), before)  # a copy: a replay
    assert ran == []
    assert (listener.state.canary, listener.state.percent) == ("2", 40.0)
    # Live commands while the history is still being read are folded, handed over at the end.
    await listener._handle(signed("promote", "2"), listener.started_ms + 1)
    assert ran == [] and listener.state.promoted == "2"


async def test_a_live_rollout_command_runs_with_the_state_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[tuple[str, RolloutState]] = []
    listener = listener_for(ran)
    listener._synced = True
    now = listener.started_ms
    await listener._handle(signed("canary", "3:10"), now + 1)
    await listener._handle(signed("promote", "2"), now + 2)  # not the canary: refused
    await listener._handle(signed("abort", "3"), now + 3)
    assert [(a, s.canary, s.refused) for a, s in ran] == [
        ("canary", "3", ()), ("abort", None, ("3",))
    ]  # fmt: skip
    assert "cannot promote version 2: the canary is 3" in caplog.text
