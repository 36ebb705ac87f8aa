"""A dev command's children: stopped in reverse order with their grace, on every way out."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest

from devtools.children import ChildProcesses


class Recorded:
    """A child that records what was done to it (in ``log``, shared by a test's children)."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def stop(self, *, timeout: float) -> None:
        self.log.append(f"stop {self.name} {timeout:g}")
        if self.fail:
            raise OSError("cannot")

    def kill(self) -> None:
        self.log.append(f"kill {self.name}")


def test_stop_all_goes_last_started_first_with_each_grace_and_survives_a_failure() -> None:
    log: list[str] = []
    children = ChildProcesses()
    children.add(Recorded("broker", log), 2.0)
    children.add(Recorded("worker", log, fail=True), 9.0)
    children.stop_all()
    # The worker's failed stop is followed by a kill, and the broker is still stopped.
    assert log == ["stop worker 9", "kill worker", "stop broker 2"]


@pytest.fixture
async def restore_signals() -> AsyncIterator[None]:
    yield
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


@pytest.mark.usefixtures("restore_signals")
async def test_the_first_signal_cancels_the_command_once_and_the_second_kills() -> None:
    log: list[str] = []
    said: list[str] = []
    children = ChildProcesses()
    children.add(Recorded("worker", log), 9.0)
    command = asyncio.create_task(asyncio.Event().wait())
    children.stop_on_signals(command, said.append)  # type: ignore[arg-type]
    await asyncio.sleep(0)

    os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(command, 5)
    assert children.stop_requested and log == []
    assert said == ["SIGTERM: stopping everything this started (Ctrl-C again kills it now)"]

    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(100):  # the handler runs on the loop: give it turns, with a deadline
        if log:
            break
        await asyncio.sleep(0.01)
    assert log == ["kill worker"]
    assert said[-1] == "SIGINT again: killing what is still running"
    children.stop_all()
