"""The automatic rollout's test: a canary no better than main is promoted at most alpha of
the time however often it is looked at; a clearly better one is promoted, a clearly worse
one rolled back, once every input partition's worker has reported; guardrails end a canary
that errs or is slow."""

from __future__ import annotations

import numpy as np

from app.rollout.decide import ArmEvidence, DecisionConfig, decide

CONFIG = DecisionConfig(alpha=0.05, min_events=500)


def run(p_main: float, p_canary: float, rng: np.random.Generator, looks: int = 60) -> str:
    """Events arrive in steps of 500 per arm; the controller looks after each step."""
    main = canary = ArmEvidence()
    for _ in range(looks):
        main += ArmEvidence(events=500, hits=int(rng.binomial(500, p_main)))
        canary += ArmEvidence(events=500, hits=int(rng.binomial(500, p_canary)))
        verdict = decide(main, canary, CONFIG)
        if verdict.action != "collect":
            return verdict.action
    return "collect"


def test_equal_arms_are_decided_on_at_most_alpha_of_the_time_under_continuous_looks() -> None:
    rng = np.random.default_rng(7)
    outcomes = [run(0.10, 0.10, rng) for _ in range(400)]
    wrong = sum(o != "collect" for o in outcomes) / len(outcomes)
    promoted = sum(o == "promote" for o in outcomes) / len(outcomes)
    assert wrong <= 0.05 and promoted <= 0.05, (wrong, promoted)


def test_a_clearly_better_canary_is_promoted_and_a_worse_one_rolled_back() -> None:
    rng = np.random.default_rng(8)
    assert [run(0.05, 0.10, rng) for _ in range(20)] == ["promote"] * 20
    assert [run(0.10, 0.006, rng) for _ in range(20)] == ["abort"] * 20


def test_no_decision_before_the_minimum_of_judged_events() -> None:
    main, canary = ArmEvidence(events=400, hits=0), ArmEvidence(events=400, hits=200)
    assert decide(main, canary, CONFIG).action == "collect"


def test_the_test_waits_for_reports_from_every_input_partition_the_guardrails_do_not() -> None:
    main, canary = ArmEvidence(events=5000, hits=250), ArmEvidence(events=5000, hits=1000)
    assert decide(main, canary, CONFIG).action == "promote"
    waiting = decide(main, canary, CONFIG, unreported=(3, 5))
    assert waiting.action == "collect" and "partition(s) 3, 5" in waiting.reason
    erring = ArmEvidence(events=10, hits=5, updates=1000, errors=3, calls=200, call_seconds=0.1)
    assert decide(main, erring, CONFIG, unreported=(3,)).action == "abort"


def test_guardrails_end_a_canary_that_errs_or_is_slow() -> None:
    main = ArmEvidence(events=10, hits=1, updates=1000, calls=100, call_seconds=0.1)
    erring = ArmEvidence(events=10, hits=5, updates=1000, errors=3, calls=200, call_seconds=0.1)
    verdict = decide(main, erring, CONFIG)
    assert verdict.action == "abort" and "errors on 3 of 200" in verdict.reason
    slow = ArmEvidence(events=10, hits=5, updates=1000, calls=100, call_seconds=0.5)
    verdict = decide(main, slow, CONFIG)
    assert verdict.action == "abort" and "ms of model call" in verdict.reason
