"""The processes a dev command starts (broker, worker), stopped on every way out of it.

A dev command runs inside the command worker of Faust (mode's ``Worker``). On Ctrl-C that
worker cancels the command, then cancels it again and closes the event loop within about a
second: a ``finally`` that awaits an orderly stop is cut short at its first ``await``, and the
children (each in its own session, so the terminal's Ctrl-C reaches only the command, which
stops them in order) were left running under PID 1, holding their ports. So:

- Ctrl-C and SIGTERM belong to ``ChildProcesses`` for the command's whole life: the first
  cancels the command once (its ``finally`` then stops the children), a second kills them;
- ``stop_all`` stops the children last started first (the worker before the broker it commits
  to), each given a bounded grace and then SIGKILL;
- an ``atexit`` hook runs ``stop_all`` if the process leaves any other way (an exception, a
  second cancellation). Only a SIGKILL of the command itself escapes: nothing runs then.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
from collections.abc import Callable
from typing import Protocol, TypeVar

__all__ = ["Child", "ChildProcesses"]

logger = logging.getLogger(__name__)


class Child(Protocol):
    """A started process: an orderly stop within ``timeout`` (then SIGKILL), or a kill now."""

    def stop(self, *, timeout: float) -> object: ...

    def kill(self) -> None: ...


C = TypeVar("C", bound=Child)


class ChildProcesses:
    """The children of one command, each with the seconds its orderly stop may take."""

    def __init__(self) -> None:
        self._children: list[tuple[Child, float]] = []
        self._signals = 0
        atexit.register(self.stop_all)

    @property
    def stop_requested(self) -> bool:
        """A stop signal (Ctrl-C, SIGTERM) has arrived."""
        return self._signals > 0

    def __len__(self) -> int:
        return len(self._children)

    def add(self, child: C, grace_s: float) -> C:
        """Track a started ``child``; its stop may take ``grace_s`` before SIGKILL."""
        self._children.append((child, grace_s))
        return child

    def stop_all(self) -> None:
        """Stop every child, last started first. Idempotent, and safe from a thread while a
        signal kills them (nothing is removed from the list)."""
        for child, grace in reversed(self._children):
            try:
                child.stop(timeout=grace)
            except Exception:  # one child's failure must not leave the others running
                logger.exception("could not stop %r", child)
                child.kill()
        atexit.unregister(self.stop_all)

    def kill_all(self) -> None:
        """SIGKILL every child now (the second Ctrl-C)."""
        for child, _ in self._children:
            child.kill()

    def stop_on_signals(self, task: asyncio.Task[object], say: Callable[[str], None]) -> None:
        """Ctrl-C and SIGTERM cancel ``task`` (once: its ``finally`` stops the children);
        another one kills them. Replaces the command worker's own handlers."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig, task, say)

    def _on_signal(
        self, sig: signal.Signals, task: asyncio.Task[object], say: Callable[[str], None]
    ) -> None:
        self._signals += 1
        if self._signals == 1:
            say(f"{sig.name}: stopping everything this started (Ctrl-C again kills it now)")
            task.cancel()
        else:
            say(f"{sig.name} again: killing what is still running")
            self.kill_all()
