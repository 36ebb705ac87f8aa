"""The stop deadline: callbacks on the signal, a forced exit once the timeout has passed."""

from __future__ import annotations

import threading

from app.worker.shutdown import FORCED_EXIT_CODE, Shutdown


def test_the_signal_runs_the_callbacks_once_and_the_deadline_forces_the_exit() -> None:
    exited = threading.Event()
    codes: list[int] = []

    def exit_now(code: int) -> None:
        codes.append(code)
        exited.set()

    shutdown = Shutdown(0.2, exit_now=exit_now)
    told: list[float] = []
    shutdown.on_stop(told.append)
    assert not shutdown.requested
    shutdown.begin()
    shutdown.begin()  # a second signal changes nothing
    assert shutdown.requested and told == [0.1]  # half the timeout for the batch in progress
    assert exited.wait(10)
    assert codes == [FORCED_EXIT_CODE]
