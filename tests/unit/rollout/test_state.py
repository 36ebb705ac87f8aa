"""The rollout state fold: canary, promote and abort as the control topic's commands decide
them; replays and commands that do not fit change nothing."""

from __future__ import annotations

import pytest

from app.errors import RolloutRefused
from app.rollout.state import RolloutState

VERSIONS = ["1", "2", "3"]


def test_a_canary_keeps_its_version_off_the_main_arm_until_promoted() -> None:
    s = RolloutState().apply("canary", "3:10", ts=1.0)
    assert (s.canary, s.percent) == ("3", 10.0)
    assert s.main_version(VERSIONS) == "2"  # the newest that is not under test
    s = s.apply("canary", "3:25", ts=2.0)  # a wider share of the same canary
    assert (s.canary, s.percent) == ("3", 25.0)
    s = s.apply("promote", "3", ts=3.0)
    assert (s.canary, s.percent, s.promoted) == (None, 0.0, "3")
    assert s.main_version([*VERSIONS, "4"]) == "3"  # a promotion stands over newer versions
    assert s.apply("reload", "", ts=4.0).main_version([*VERSIONS, "4"]) == "4"


def test_an_abort_refuses_the_version_until_it_is_canaried_again() -> None:
    s = RolloutState().apply("canary", "3:10", ts=1.0).apply("abort", "3", ts=2.0)
    assert (s.canary, s.refused) == (None, ("3",))
    assert s.main_version(VERSIONS) == "2"
    s = s.apply("canary", "3:5", ts=3.0)
    assert s.refused == () and s.canary == "3"


@pytest.mark.parametrize(
    ("action", "arg", "why"),
    [
        ("promote", "3", "there is no canary"),
        ("abort", "2", "there is no canary"),
        ("canary", "3", "allowed: '<version>:<percent"),
        ("canary", "3:101", "allowed"),
        ("canary", ":5", "allowed"),
        ("delete", "", "not a rollout action"),
    ],
)
def test_a_command_that_does_not_fit_is_refused_and_changes_nothing(
    action: str, arg: str, why: str
) -> None:
    with pytest.raises(RolloutRefused, match=why):
        RolloutState().apply(action, arg, ts=1.0)


def test_promoting_another_version_than_the_canary_is_refused() -> None:
    s = RolloutState().apply("canary", "3:10", ts=1.0)
    with pytest.raises(RolloutRefused, match="the canary is 3"):
        s.apply("promote", "2", ts=2.0)


def test_a_replayed_older_command_is_refused() -> None:
    s = RolloutState().apply("canary", "3:10", ts=5.0).apply("abort", "3", ts=6.0)
    with pytest.raises(RolloutRefused, match="replay"):
        s.apply("canary", "3:10", ts=5.0)  # the same signed record written again


def test_with_everything_refused_the_state_names_no_main_version() -> None:
    s = RolloutState(refused=("1",))
    assert s.main_version(["1"]) is None and s.main_version([]) is None
