"""The deployment's rollout state: what the signed rollout commands on the control topic have
decided so far, folded in order. Pure: every worker folds the same records to the same state,
so one that joins or restarts learns it by reading the topic.

- ``canary V:P`` serves version V to P% of users (sticky per user: ``canary_bucket``), and
  keeps V from becoming the main version while it is under test;
- ``promote V`` (V must be the canary) makes V the main version and ends the canary;
- ``abort V`` (V must be the canary) ends the canary and refuses V: no poll serves it;
- ``reload`` drops a promotion, so the main version is the newest one again;
- ``adopt V`` makes V the main version as a promotion does, without a canary (the automatic
  rollout controller adopts the serving version, so a new one reaches main only through it).

``promote`` and ``abort`` may carry the evidence they were decided on (the controller's);
the last decisions are kept with it, for /models/.

A command is applied only if it is stamped no earlier than the last applied one, so a copy
of an old signed command written to the topic again changes nothing, on a running worker or
on one that replays the topic (a copy of the last one changes nothing either: applying it
again gives the same state or does not fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from app.errors import RolloutRefused
from app.settings import parse_canary

__all__ = ["ROLLOUT_ACTIONS", "RolloutState"]

ROLLOUT_ACTIONS = frozenset({"canary", "promote", "abort", "reload", "adopt"})
"""The actions that change the state (``reload`` also serves the newest version at once)."""

MAX_DECISIONS = 10


class Decision(msgspec.Struct, frozen=True):
    """A promotion or an abort, with what it was decided on (none: a person's command)."""

    action: str
    version: str
    ts: float
    evidence: dict[str, Any] | None = None


class RolloutState(msgspec.Struct, frozen=True):
    """Canary (version and share of users), promoted and refused versions, and the stamp of
    the last command applied."""

    canary: str | None = None
    percent: float = 0.0
    promoted: str | None = None
    refused: tuple[str, ...] = ()
    ts: float = 0.0
    canary_since: float = 0.0
    """When the canary's version started (not when its share last changed): evidence about
    it counts from here."""
    decisions: tuple[Decision, ...] = ()
    """The last promotions and aborts, newest last."""

    def apply(
        self, action: str, arg: str, ts: float, evidence: dict[str, Any] | None = None
    ) -> RolloutState:
        """The state after one command; ``RolloutRefused`` (nothing changes) if it does not
        fit. ``arg``: ``V:P`` for canary, ``V`` for promote, abort and adopt, empty for
        reload."""
        if ts < self.ts:
            raise RolloutRefused(
                f"{action} stamped {ts:.3f} is older than the last command applied "
                f"({self.ts:.3f}): a replay, ignored"
            )
        if action == "canary":
            version, percent = parse_canary(arg)
            refused = tuple(v for v in self.refused if v != version)
            since = self.canary_since if version == self.canary else ts
            return msgspec.structs.replace(
                self, canary=version, percent=percent, refused=refused, ts=ts, canary_since=since
            )
        if action in ("promote", "abort"):
            if self.canary is None or arg != self.canary:
                now = f"the canary is {self.canary}" if self.canary else "there is no canary"
                raise RolloutRefused(f"cannot {action} version {arg or '?'}: {now}")
            decisions = (*self.decisions, Decision(action, arg, ts, evidence))[-MAX_DECISIONS:]
            ended = msgspec.structs.replace(
                self, canary=None, percent=0.0, ts=ts, canary_since=0.0, decisions=decisions
            )
            if action == "promote":
                return msgspec.structs.replace(ended, promoted=arg)
            refused = (*self.refused, arg) if arg not in self.refused else self.refused
            return msgspec.structs.replace(ended, refused=refused)
        if action == "reload":
            return msgspec.structs.replace(self, promoted=None, ts=ts)
        if action == "adopt":
            if not arg:
                raise RolloutRefused("adopt needs a version")
            if arg == self.canary:
                raise RolloutRefused(f"cannot adopt version {arg}: it is the canary (promote it)")
            return msgspec.structs.replace(self, promoted=arg, ts=ts)
        raise RolloutRefused(f"not a rollout action: {action!r}")

    def main_version(self, versions: Sequence[str]) -> str | None:
        """Which of the registry's ``versions`` (oldest first) the main arm serves: the
        promoted one, else the newest that is neither the canary nor refused (None: none)."""
        if self.promoted in versions:
            return self.promoted
        eligible = [v for v in versions if v != self.canary and v not in self.refused]
        return eligible[-1] if eligible else None

    def show(self) -> dict[str, object]:
        """For /models/ and the CLI."""
        return {
            "canary": self.canary,
            "canary_percent": self.percent if self.canary else 0.0,
            "promoted": self.promoted,
            "refused": list(self.refused),
            "last_command_ts": self.ts or None,
            "decisions": [msgspec.structs.asdict(d) for d in self.decisions],
        }
