"""``faust -A app <command>``: streamrec's commands, by who runs them.

ops: ``models`` (an operator's view of versions and rollout), ``dlq`` (the dead letters:
counts, one shown whole, a redrive);
ml: ``train``, ``retrain``, ``evaluate``, ``index`` (prebuild a two-tower version's ANN index);
dev: ``broker``, ``demo``, ``replay``, ``bench``, ``verify`` (their code is in the source
checkout's devtools/, imported only when one runs).
"""

from __future__ import annotations

from app.cli import dev, dlq, ml, ops

__all__ = ["register_commands"]


def register_commands() -> None:
    """Add streamrec's commands to ``faust``'s command line (a Faust-wide click group)."""
    for commands in (ops.COMMANDS, dlq.COMMANDS, ml.COMMANDS, dev.COMMANDS):
        commands.register()
