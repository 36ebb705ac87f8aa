"""How streamrec's commands join ``faust``'s command line.

A command is an ``async def`` taking Faust's ``AppCommand``; ``CommandSet.command`` records it
with its click options, and ``register`` adds the set to Faust's (process-wide) click group
when the app is built.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faust.cli import AppCommand

__all__ = ["CommandSet"]

Handler = Callable[..., Awaitable[None]]


class CommandSet:
    """Commands recorded at import, added to Faust's command line by ``register``."""

    def __init__(self) -> None:
        self._commands: list[tuple[Handler, tuple[Any, ...]]] = []

    def command(self, *options: Any) -> Callable[[Handler], Handler]:
        """Mark an ``async def`` as a command with these click options."""

        def collect(fun: Handler) -> Handler:
            self._commands.append((fun, options))
            return fun

        return collect

    def register(self) -> None:
        """Add every recorded command to ``faust``'s command line."""
        for fun, options in self._commands:
            AppCommand.from_handler(*options)(fun)
