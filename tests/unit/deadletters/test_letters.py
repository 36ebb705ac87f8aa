"""Dead letters read back: their reason and origin, shown whole, summed up by reason."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from app.deadletters import DeadLetter, summarize
from app.deadletters.letters import UNKNOWN, iso_ms
from tests.unit.deadletters.conftest import T0_MS


def test_a_consumer_record_becomes_a_dead_letter_with_its_headers() -> None:
    record = SimpleNamespace(partition=2, offset=7, timestamp=T0_MS, key=b"u", value=b"{",
                             headers=(("streamrec.error.reason", b"invalid_json"),))  # fmt: skip
    letter = DeadLetter.of(record)
    assert (letter.position, letter.reason, letter.redrive_count) == ((2, 7), "invalid_json", 0)
    # Records someone else wrote to the topic still count, under a reason of their own.
    assert DeadLetter(0, 0, T0_MS, None, None).reason == UNKNOWN


def test_show_gives_the_reason_error_origin_headers_and_original_event(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    shown = letter_factory(1, 5).describe("interactions.dlq")
    assert shown["dead_letter"] == {"topic": "interactions.dlq", "partition": 1, "offset": 5,
                                    "time": "2026-12-07T00:00:00.000Z"}  # fmt: skip
    assert (shown["reason"], shown["error_class"], shown["error"]) == (
        "processing_error", "RuntimeError", "model call failed",
    )  # fmt: skip
    assert shown["source"] == {"topic": "interactions", "partition": 3, "offset": 45,
                               "timestamp": "1796601599.5"}  # fmt: skip
    assert shown["event"] == {"user_id": "u1", "item_id": "9", "event": "view"}
    assert shown["key"] == "u1" and shown["redriven_from"] is None
    headers = shown["headers"]
    assert isinstance(headers, dict) and headers["streamrec.error.reason"] == "processing_error"


def test_show_keeps_bytes_that_are_not_text_visible(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    shown = letter_factory(key=b"\xff", value=b"\x00\xfe", reason="invalid_json").describe("d")
    assert (shown["key"], shown["value"], shown["event"]) == ("b'\\xff'", "b'\\x00\\xfe'", None)


def test_the_summary_counts_by_reason_with_times_and_redriven_ones(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    letters = [
        letter_factory(0, 0, reason="invalid_json", at_ms=T0_MS + 5_000),
        letter_factory(0, 1, at_ms=T0_MS + 1_000),
        letter_factory(1, 0, at_ms=T0_MS + 9_000),
        letter_factory(1, 1, at_ms=T0_MS + 3_000),
    ]
    counts = summarize(letters, redriven=[(0, 1), (1, 1), (7, 7)])
    assert list(counts) == ["invalid_json", "processing_error"]  # sorted by reason
    errors = counts["processing_error"]
    assert (errors.records, errors.redriven) == (3, 2)
    assert (iso_ms(errors.first_ms), iso_ms(errors.last_ms)) == (
        "2026-12-07T00:00:01.000Z", "2026-12-07T00:00:09.000Z",
    )  # fmt: skip
    assert (counts["invalid_json"].records, counts["invalid_json"].redriven) == (1, 0)
    assert summarize([]) == {}
