"""The redriven record, the markers, and the plan of a redrive: each dead letter once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.deadletters import DeadLetter, Selection, plan_redrive, redriven_record
from app.deadletters.redrive import MarkerState, decode_marker, marker_record, marker_topic
from app.pipeline.decode import dead_letter
from tests.support.pipeline import Record
from tests.unit.deadletters.conftest import T0_MS

NOW_MS = T0_MS + 3_600_000


def test_a_redriven_record_is_the_original_with_its_origin(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    letter = letter_factory(2, 17)
    key, value, headers = redriven_record(letter, "interactions.dlq", NOW_MS)
    assert (key, value) == (letter.key, letter.value)  # bytes as first read
    assert dict(headers) == {
        "streamrec.redrive.topic": b"interactions.dlq",
        "streamrec.redrive.partition": b"2",
        "streamrec.redrive.offset": b"17",
        "streamrec.redrive.time": b"2026-12-07T01:00:00.000Z",
        "streamrec.redrive.reason": b"processing_error",
        "streamrec.redrive.count": b"1",
    }


def test_a_redriven_record_that_fails_again_keeps_its_origin_and_the_count_goes_on(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    first = letter_factory(2, 17)
    key, value, headers = redriven_record(first, "interactions.dlq", NOW_MS)
    # The worker reads it back from the input topic and dead-letters it again.
    again = Record(key, value, "interactions", 0, 99, NOW_MS / 1000, tuple(headers))
    _, (_, _, dead_headers) = dead_letter(again, RuntimeError("still broken"))
    second = DeadLetter(0, 30, NOW_MS + 5, key, value, dead_headers)
    assert second.redrive_count == 1
    shown = second.describe("interactions.dlq")
    assert shown["redriven_from"] == {
        "topic": "interactions.dlq", "partition": "2", "offset": "17",
        "time": "2026-12-07T01:00:00.000Z", "reason": "processing_error", "count": "1",
    }  # fmt: skip
    assert shown["source"] == {"topic": "interactions", "partition": 0, "offset": 99,
                               "timestamp": repr(NOW_MS / 1000)}  # fmt: skip
    # Redriven a second time: this dead letter is the origin, and the count says 2.
    _, _, headers = redriven_record(second, "interactions.dlq", NOW_MS + 60_000)
    assert [v for n, v in headers if n == "streamrec.redrive.offset"] == [b"30"]
    assert dict(headers)["streamrec.redrive.count"] == b"2"


def test_faust_header_mappings_are_kept_too() -> None:
    record = Record(b"u1", b"{", headers={"streamrec.redrive.count": b"3", "other": b"x"})  # type: ignore[arg-type]
    _, (_, _, headers) = dead_letter(record, RuntimeError("boom"))
    assert ("streamrec.redrive.count", b"3") in headers
    assert "other" not in dict(headers)  # only the origin is carried over


def test_markers_round_trip_and_strangers_are_refused(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    assert marker_topic("interactions.dlq") == "interactions.dlq.redriven"
    key, value, _ = marker_record(letter_factory(3, 8), "sent", "interactions", NOW_MS)
    assert key == b"3:8"
    assert decode_marker(key, value) == ((3, 8), "sent")
    with pytest.raises(ValueError, match="marker key"):
        decode_marker(b"x", value)
    with pytest.raises(ValueError, match="marker value"):
        decode_marker(key, b'{"state":"maybe"}')


def test_the_plan_sends_each_letter_once_and_holds_back_unconfirmed_ones(
    letter_factory: Callable[..., DeadLetter],
) -> None:
    letters = [letter_factory(0, o) for o in range(4)]
    letters.append(letter_factory(0, 4, reason="invalid_json"))
    errors = Selection(frozenset({"processing_error"}))
    first = plan_redrive(letters, errors, {})
    assert [x.offset for x in first.send] == [0, 1, 2, 3]
    # A run that sent 0 and 1, and stopped after marking 2 pending.
    markers: dict[tuple[int, int], MarkerState] = {(0, 0): "sent", (0, 1): "sent",
                                                   (0, 2): "pending"}  # fmt: skip
    second = plan_redrive(letters, errors, markers)
    assert [x.offset for x in second.send] == [3]
    assert [x.offset for x in second.sent_before] == [0, 1]
    assert [x.offset for x in second.unsure] == [2]
    forced = plan_redrive(letters, errors, markers, resend_pending=True)
    assert [x.offset for x in forced.send] == [2, 3] and not forced.unsure
    # Another selection over the same letters still sends none twice.
    wider = plan_redrive(letters, Selection(from_offset=0), {**markers, (0, 3): "sent"})
    assert [x.offset for x in wider.send] == [4]


def test_synthetic_traffic_stays_marked_through_the_dead_letter_and_the_redrive() -> None:
    # verify's malformed records: dead-lettered, then redriven, still test traffic.
    record = Record(b"u1", b"{", headers=(("streamrec.synthetic", b"verify"), ("other", b"x")))
    _, (_, _, dead_headers) = dead_letter(record, RuntimeError("boom"))
    assert ("streamrec.synthetic", b"verify") in dead_headers
    assert not [n for n, _ in dead_headers if n == "other"]
    letter = DeadLetter(0, 5, T0_MS, b"u1", b"{", dead_headers)
    _, _, headers = redriven_record(letter, "interactions.dlq", NOW_MS)
    assert ("streamrec.synthetic", b"verify") in headers
