"""Selections of dead letters: by reason, partition and offsets, and time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.deadletters import DeadLetter, Selection, parse_position, parse_time_ms
from tests.unit.deadletters.conftest import T0_MS


def test_every_criterion_given_must_hold(letter_factory: Callable[..., DeadLetter]) -> None:
    error, bad_json = letter_factory(1, 10), letter_factory(1, 11, reason="invalid_json")
    assert Selection().empty and Selection().matches(error)
    by_reason = Selection(reasons=frozenset({"processing_error"}))
    assert by_reason.matches(error) and not by_reason.matches(bad_json)
    both = Selection(frozenset({"processing_error", "invalid_json"}))
    assert both.matches(error) and both.matches(bad_json)
    assert Selection(partition=1).matches(error) and not Selection(partition=0).matches(error)


def test_offsets_are_inclusive_at_both_ends(letter_factory: Callable[..., DeadLetter]) -> None:
    picked = Selection(from_offset=10, to_offset=12)
    offsets = [o for o in range(8, 15) if picked.matches(letter_factory(0, o))]
    assert offsets == [10, 11, 12]


def test_since_is_inclusive_and_until_exclusive(letter_factory: Callable[..., DeadLetter]) -> None:
    window = Selection(since_ms=T0_MS, until_ms=T0_MS + 1000)
    assert window.matches(letter_factory(at_ms=T0_MS))
    assert window.matches(letter_factory(at_ms=T0_MS + 999))
    assert not window.matches(letter_factory(at_ms=T0_MS + 1000))
    assert not window.matches(letter_factory(at_ms=T0_MS - 1))


def test_a_selection_says_what_it_picks() -> None:
    assert Selection().describe() == "every dead letter"
    picked = Selection(frozenset({"processing_error"}), 2, 5, None, T0_MS, None)
    assert picked.describe() == (
        "reason processing_error, partition 2, offsets 5.., since 2026-12-07T00:00:00.000Z"
    )


def test_positions_and_times_are_parsed_or_refused_with_the_form() -> None:
    assert parse_position(" 3:42") == (3, 42)
    for bad in ("3", "3:", "a:1", "-1:2", "1:2:3"):
        with pytest.raises(ValueError, match="PARTITION:OFFSET"):
            parse_position(bad)
    assert parse_time_ms("2026-12-07T00:00:00Z") == T0_MS
    assert parse_time_ms("2026-12-07T00:00") == T0_MS  # no zone: UTC
    assert parse_time_ms("2026-12-07T01:00:00+01:00") == T0_MS
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time_ms("yesterday")
