"""The input contract: what is accepted, how it is normalised, and why anything is rejected."""

from __future__ import annotations

import time

import msgspec
import pytest

from app.errors import InvalidInteraction
from app.pipeline import decode as contract
from app.pipeline.decode import RecordSource, dead_letter, decode_interaction
from app.records import Interaction
from devtools.verify.corpus import BadRecord, malformed_records
from tests.support.pipeline import Record

SOURCE = RecordSource(topic="interactions", partition=3, offset=42, timestamp=1_700_000_000.5)


def decode(value: bytes | None, key: bytes | None = b"7", max_bytes: int = 65536) -> Interaction:
    return decode_interaction(key, value, SOURCE, max_bytes=max_bytes, max_future_skew_s=86400)


def test_valid_event_is_normalised() -> None:
    got = decode(b'{"user_id": 7, "item_id": 12, "event": "rate", "rating": 4, "ts": 100}')
    assert msgspec.structs.asdict(got) == {
        "user_id": "7",
        "item_id": "12",
        "event": "rate",
        "rating": 4.0,
        "ts": 100.0,
        "event_id": "interactions-3-42",
        "partition": 3,
        "offset": 42,
        "synthetic": False,
    }


def test_an_unknown_event_type_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(InvalidInteraction) as caught:
        decode(b'{"user_id": "7", "item_id": "x", "event": "like"}')
    assert caught.value.reason == "invalid_field"
    assert str(caught.value).endswith(
        "Invalid enum value 'like' - at `$.event` (allowed: view, click, cart, purchase, rate)"
    )


def test_defaults_come_from_the_record() -> None:
    got = decode(b'{"user_id": "7", "item_id": "x", "event": "view", "event_id": "e1"}')
    assert got.ts == SOURCE.timestamp
    assert got.event_id == "e1"
    assert got.rating is None


def test_unknown_fields_are_ignored() -> None:
    got = decode(b'{"user_id": "7", "item_id": "x", "event": "click", "extra": {"a": [1]}}')
    assert got.event == "click"


def test_the_synthetic_header_marks_an_event_whatever_else_the_record_carries() -> None:
    value = b'{"user_id": "7", "item_id": "x", "event": "view"}'
    marked = Record(
        b"7", value, headers=(("traceparent", b"00-1"), ("streamrec.synthetic", b"verify"))
    )
    assert contract.decode_record(marked, max_bytes=65536, max_future_skew_s=86400).synthetic
    plain = Record(b"7", value, headers=(("streamrec.synthetic-not", b"x"),))
    assert not contract.decode_record(plain, max_bytes=65536, max_future_skew_s=86400).synthetic
    # No headers (most records), None (a client without them) or Faust's mapping form.
    assert not any(map(contract.is_synthetic, [(), None, {"a": b""}]))
    assert contract.is_synthetic({"streamrec.synthetic": b"verify"})


CORPUS = [r for r in malformed_records("7", duplicate_of="e-1") if r.reason != "duplicate_event"]


@pytest.mark.parametrize("record", CORPUS, ids=[r.what for r in CORPUS])
def test_contract_violations_name_their_reason(record: BadRecord) -> None:
    with pytest.raises(InvalidInteraction) as info:
        decode(record.value, key=record.key)
    assert info.value.reason == record.reason
    assert str(info.value)


def test_corpus_covers_every_kind_of_bad_input() -> None:
    records = malformed_records("7", duplicate_of="e-1")
    assert len(records) >= 40
    assert {r.reason for r in records} == {
        "missing_key", "invalid_key", "key_mismatch", "missing_value", "too_large",
        "invalid_json", "not_object", "missing_field", "invalid_field", "bad_timestamp",
        "duplicate_event",
    }  # fmt: skip


def test_valid_unicode_ids_are_accepted() -> None:
    user = "użytkownik-😀-\u202e"
    value = msgspec.json.encode({"user_id": user, "item_id": "項目", "event": "view"})
    assert decode(value, key=user.encode()).user_id == user


def test_oversized_value_is_rejected_unread() -> None:
    value = b'{"user_id":"7","item_id":"1","event":"view","pad":"' + b"x" * 2000 + b'"}'
    with pytest.raises(InvalidInteraction) as info:
        decode(value, max_bytes=1000)
    assert info.value.reason == "too_large"


def test_future_limit_is_relative_to_now() -> None:
    soon = time.time() + 3600
    value = b'{"user_id":"7","item_id":"1","event":"view","ts":%d}' % soon
    assert decode(value).ts == pytest.approx(soon)


def read_at_source(key: bytes | None, value: bytes | None) -> Record:
    return Record(key, value, SOURCE.topic, SOURCE.partition, SOURCE.offset, SOURCE.timestamp)


def test_dead_letter_keeps_bytes_and_explains() -> None:
    error = InvalidInteraction("invalid_json", "JSON is malformed")
    reason, (key, value, pairs) = dead_letter(read_at_source(b"7", b"{oops"), error)
    assert (reason, key, value) == ("invalid_json", b"7", b"{oops")
    headers = dict(pairs)
    assert headers == {
        "streamrec.error.class": b"InvalidInteraction",
        "streamrec.error.reason": b"invalid_json",
        "streamrec.error.message": b"JSON is malformed",
        "streamrec.source.topic": b"interactions",
        "streamrec.source.partition": b"3",
        "streamrec.source.offset": b"42",
        "streamrec.source.timestamp": b"1700000000.5",
    }


def test_unexpected_errors_are_processing_errors() -> None:
    reason, (_, _, pairs) = dead_letter(read_at_source(None, None), RuntimeError("boom"))
    headers = dict(pairs)
    assert reason == "processing_error"
    assert headers["streamrec.error.reason"] == b"processing_error"
    assert headers["streamrec.error.class"] == b"RuntimeError"
