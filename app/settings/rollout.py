"""Model rollout: the canary and shadow versions, and the automatic rollout's test.

``parse_canary`` lives here, with the setting it reads; the rollout state folds the control
topic's ``canary`` commands with it too.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from app.errors import RolloutRefused
from app.settings.base import Scope

__all__ = ["RolloutSettings", "parse_canary"]


def parse_canary(spec: str) -> tuple[str, float]:
    """``"3:10"`` -> (``"3"``, 10.0); raises ``RolloutRefused`` saying what is allowed."""
    version, _, percent = spec.rpartition(":")
    try:
        share = float(percent)
    except ValueError:
        share = -1.0
    if not version or not 0 <= share <= 100:
        raise RolloutRefused(
            "not a canary; allowed: '<version>:<percent from 0 to 100>', e.g. '2:20'"
        )
    return version, share


class RolloutSettings(Scope):
    """Which versions besides the main one score, and how a new one is judged."""

    canary: str | None = None
    """Canary rollout ``"<version>:<percent>"``, e.g. ``"2:20"``: that share of users is scored
    by that version, the rest by the main model. Users are picked by a hash of the user id
    and the canary version, so a user sees the same arm on every event, worker and restart,
    and raising the percent keeps the users already in. Outputs say their ``variant``."""

    shadow: str | None = None
    """Shadow version: every micro-batch is also scored by it and its updates go to
    OUTPUT_TOPIC + ``.shadow`` (variant ``shadow``); the main output is unaffected."""

    auto_rollout: bool = False
    """Automatic rollout: a new version appearing in the registry is canaried at
    AUTO_CANARY_PERCENT, and a controller (on the worker holding the input topic's partition
    0: one per deployment) promotes or rolls it back on the arms' live prequential HR@K
    summed over all workers (a sequential test, see Model rollout). Needs ADMIN_TOKEN: its
    decisions are signed control commands."""

    auto_canary_percent: float = Field(default=10.0, gt=0, le=100)
    """Share of users a new version gets while the automatic rollout judges it."""

    auto_min_events: int = Field(default=1000, ge=1)
    """Judged events each arm needs before the automatic rollout's test may decide."""

    auto_alpha: float = Field(default=0.05, gt=0, lt=1)
    """The test's error rate: a canary no better than main is promoted (or one no worse rolled
    back) with at most this probability, however long it runs."""

    auto_max_call_ratio: float = Field(default=3.0, gt=1)
    """Guardrail: a canary whose model-call time per update exceeds this many times the main
    arm's is rolled back (as is one whose model calls fail more than 1% of the time)."""

    auto_check_s: float = Field(default=5.0, gt=0)
    """How often workers report their arms' figures and the controller looks at them."""

    @field_validator("canary")
    @classmethod
    def _check_canary(cls, value: str | None) -> str | None:
        if value:
            try:
                parse_canary(value)
            except RolloutRefused as exc:
                raise ValueError(str(exc)) from None
        return value or None

    @property
    def canary_split(self) -> tuple[str, float] | None:
        """(canary version, percent of users) or None."""
        if not self.canary:
            return None
        return parse_canary(self.canary)
