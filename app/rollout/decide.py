"""The automatic rollout's decision: is the canary better, worse, or not known yet?

Pure. The evidence is each arm's live prequential HR@K (an event is a hit when its item was
in the update the user got before it), summed over every worker since the canary's version
started. The test is a mixture sequential probability ratio test (mSPRT; Johari, Pekelis and
Walsh, "Always valid inference", 2017) on the difference of the two hit rates, with the
normal approximation and a N(0, tau^2) mixture over the difference:

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 * V * (V + tau^2)))

where d is the canary's hit rate minus the main arm's and V the variance of d. Deciding when
Lambda >= 1/alpha, however often it is looked at, wrongly decides that the arms differ with
probability at most alpha; so a canary no better than main is promoted with probability at
most alpha (and one no worse rolled back with at most alpha). Guardrails end a canary
without waiting for the test: errors on over 1% of its model calls, or a model-call time per
update over ``max_call_ratio`` times the main arm's.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

__all__ = ["ArmEvidence", "DecisionConfig", "Verdict", "decide", "msprt"]

TAU = 0.02
"""Mixture spread: differences of hit rates around a couple of points are what it is most
sensitive to (any tau keeps the error rate; it only moves the power)."""


class ArmEvidence(msgspec.Struct, frozen=True):
    """One arm's live figures, summed over workers."""

    events: int = 0
    """Judged events (prequential denominator)."""
    hits: int = 0
    updates: int = 0
    errors: int = 0
    calls: int = 0
    call_seconds: float = 0.0

    def __add__(self, other: ArmEvidence) -> ArmEvidence:
        return ArmEvidence(
            self.events + other.events, self.hits + other.hits, self.updates + other.updates,
            self.errors + other.errors, self.calls + other.calls,
            self.call_seconds + other.call_seconds,
        )  # fmt: skip

    def __sub__(self, other: ArmEvidence) -> ArmEvidence:
        return ArmEvidence(
            self.events - other.events, self.hits - other.hits, self.updates - other.updates,
            self.errors - other.errors, self.calls - other.calls,
            self.call_seconds - other.call_seconds,
        )  # fmt: skip

    @property
    def hit_rate(self) -> float:
        return self.hits / self.events if self.events else 0.0

    @property
    def call_ms_per_update(self) -> float | None:
        return 1000 * self.call_seconds / self.updates if self.updates else None


class DecisionConfig(msgspec.Struct, frozen=True):
    alpha: float = 0.05
    min_events: int = 1000
    """Per arm: no decision on the test before both arms have this many judged events."""
    max_error_rate: float = 0.01
    max_call_ratio: float = 3.0


class Verdict(msgspec.Struct, frozen=True):
    action: Literal["promote", "abort", "collect"]
    reason: str
    statistic: float
    threshold: float
    difference: float


def msprt(main: ArmEvidence, canary: ArmEvidence, tau: float = TAU) -> tuple[float, float]:
    """(Lambda, d): the mixture likelihood ratio for "the hit rates differ" and the observed
    difference canary - main."""
    if not main.events or not canary.events:
        return 1.0, 0.0
    pm, pc = main.hit_rate, canary.hit_rate
    d = pc - pm
    # A floor on each rate's variance: with no hits at all the estimate would say zero.
    var = max(pm * (1 - pm), 1e-4) / main.events + max(pc * (1 - pc), 1e-4) / canary.events
    t2 = tau * tau
    log_lambda = 0.5 * math.log(var / (var + t2)) + t2 * d * d / (2 * var * (var + t2))
    return math.exp(min(log_lambda, 700.0)), d


def decide(
    main: ArmEvidence, canary: ArmEvidence, config: DecisionConfig,
    unreported: tuple[int, ...] = (),
) -> Verdict:  # fmt: skip
    """Promote, abort, or keep collecting; ``unreported`` are input partitions no worker's
    report covers yet: the test waits for them (evidence from part of the traffic is not the
    deployment's), the guardrails do not."""
    statistic, d = msprt(main, canary)
    threshold = 1 / config.alpha

    def verdict(action: Literal["promote", "abort", "collect"], reason: str) -> Verdict:
        return Verdict(action, reason, statistic, threshold, d)

    if canary.calls >= 100 and canary.errors > config.max_error_rate * canary.calls:
        return verdict("abort", f"guardrail: errors on {canary.errors} of {canary.calls} "
                                f"canary model calls")  # fmt: skip
    canary_ms, main_ms = canary.call_ms_per_update, main.call_ms_per_update
    if (
        canary.updates >= 100 and canary_ms is not None and main_ms
        and canary_ms > config.max_call_ratio * main_ms
    ):  # fmt: skip
        return verdict("abort", f"guardrail: {canary_ms:.3f} ms of model call per canary "
                                f"update against {main_ms:.3f} on main")  # fmt: skip
    if unreported:
        return verdict("collect", f"no report yet from the worker(s) holding input "
                                  f"partition(s) {', '.join(map(str, unreported))}")  # fmt: skip
    if min(main.events, canary.events) < config.min_events:
        return verdict("collect", f"fewer than {config.min_events} judged events on an arm")
    if statistic < threshold:
        return verdict("collect", f"mSPRT {statistic:.3g} < {threshold:g}")
    better = "better" if d > 0 else "worse"
    return verdict("promote" if d > 0 else "abort",
                   f"canary {better}: HR {canary.hit_rate:.4f} vs {main.hit_rate:.4f}, "
                   f"mSPRT {statistic:.3g} >= {threshold:g}")  # fmt: skip
