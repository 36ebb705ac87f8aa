"""The models command without an admin token: what to set, before anything is sent."""

from __future__ import annotations

import pytest

from app.cli import ops
from app.settings import Settings


@pytest.mark.parametrize("action", ["reload", "canary"])
async def test_a_command_without_a_token_names_the_setting_to_set(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An unreachable broker: the refusal must come before any connection is tried.
    s = Settings(admin_token=None, admin_token_file=None, broker="kafka://127.0.0.1:1")
    with pytest.raises(SystemExit) as exited:
        await ops._send(None, s, action, "1:10" if action == "canary" else "")  # type: ignore[arg-type]
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"streamrec: cannot send {action}: {ops.NO_TOKEN_HINT}"]
    assert "set STREAMREC_ADMIN_TOKEN (or STREAMREC_ADMIN_TOKEN_FILE)" in err
    assert "Authorization" not in err and "header" not in err
