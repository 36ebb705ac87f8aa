"""Malformed input records, each with the dead-letter reason the contract gives it.

One list, used by the unit tests (``decode_interaction``), the integration tests (through a
worker) and ``faust -A app verify --bad`` (against any deployment). Records are built for a
given user so they can be mixed into that user's valid traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BadRecord", "malformed_records"]

_VALID = b'"user_id":"%s","item_id":"1","event":"view"'


@dataclass(frozen=True)
class BadRecord:
    """A record the worker must dead-letter with ``reason`` (``what`` says why, for humans)."""

    what: str
    key: bytes | None
    value: bytes | None
    reason: str


def malformed_records(user: str, duplicate_of: str, max_bytes: int = 65_536) -> list[BadRecord]:
    """The corpus for ``user``; ``duplicate_of`` is an event id the user already sent.

    Send the records after that event (and after the user's first valid event: some reasons
    need a known user). ``max_bytes`` is the deployment's STREAMREC_MAX_MESSAGE_BYTES.
    """
    u = user.encode()
    ok = _VALID % u

    def obj(body: bytes) -> bytes:
        return b"{" + body + b"}"

    def with_field(field: bytes) -> bytes:
        return obj(ok + b"," + field)

    big = max(max_bytes + 1, 2 << 20)  # the 2 MB, and always over the limit
    records = [
        # Not JSON at all, or broken JSON.
        ("truncated object", u, obj(ok)[:-1], "invalid_json"),
        ("truncated mid-string", u, obj(ok)[:15], "invalid_json"),
        ("not JSON", u, b"{not json", "invalid_json"),
        ("single-quoted JSON", u, obj(ok).replace(b'"', b"'"), "invalid_json"),
        ("trailing garbage", u, obj(ok) + b" x", "invalid_json"),
        ("two objects", u, obj(ok) + obj(ok), "invalid_json"),
        ("JSON with a comment", u, obj(ok + b"/* c */"), "invalid_json"),
        ("invalid UTF-8", u, b"\xff\xfe" + obj(ok), "invalid_json"),
        ("UTF-8 byte order mark", u, b"\xef\xbb\xbf" + obj(ok), "invalid_json"),
        ("lone UTF-16 surrogate", u, obj(b'"user_id":"%s","item_id":"\\ud800","event":"view"' % u),
         "invalid_json"),
        ("whitespace only", u, b"   ", "invalid_json"),
        ("NaN rating", u, with_field(b'"rating":NaN'), "invalid_json"),
        ("Infinity rating", u, with_field(b'"rating":Infinity'), "invalid_json"),
        ("deeply nested arrays", u, obj(ok + b',"x":' + b"[" * 5000 + b"]" * 5000),
         "invalid_json"),
        ("deeply nested objects", u, obj(ok + b',"x":' + b'{"a":' * 5000 + b"1" + b"}" * 5000),
         "invalid_json"),
        # JSON, but not an object.
        ("null value", u, b"null", "not_object"),
        ("array value", u, b"[1,2,3]", "not_object"),
        ("string value", u, b'"view"', "not_object"),
        ("number value", u, b"42", "not_object"),
        # Missing fields.
        ("empty object", u, b"{}", "missing_field"),
        ("no item_id", u, obj(b'"user_id":"%s","event":"view"' % u), "missing_field"),
        ("no event", u, obj(b'"user_id":"%s","item_id":"1"' % u), "missing_field"),
        ("no user_id", u, obj(b'"item_id":"1","event":"view"'), "missing_field"),
        # Wrong types and values.
        ("item_id object", u, obj(b'"user_id":"%s","item_id":{"a":1},"event":"view"' % u),
         "invalid_field"),
        ("item_id list", u, obj(b'"user_id":"%s","item_id":[1],"event":"view"' % u),
         "invalid_field"),
        ("item_id null", u, obj(b'"user_id":"%s","item_id":null,"event":"view"' % u),
         "invalid_field"),
        ("item_id empty", u, obj(b'"user_id":"%s","item_id":"","event":"view"' % u),
         "invalid_field"),
        ("item_id with a NUL", u, obj(b'"user_id":"%s","item_id":"a\\u0000b","event":"view"' % u),
         "invalid_field"),
        ("item_id with a newline", u, obj(b'"user_id":"%s","item_id":"a\\nb","event":"view"' % u),
         "invalid_field"),
        ("item_id too long", u, obj(b'"user_id":"%s","item_id":"%s","event":"view"'
                                    % (u, b"i" * 300)), "invalid_field"),
        ("item_id boolean", u, obj(b'"user_id":"%s","item_id":true,"event":"view"' % u),
         "invalid_field"),
        ("item_id float", u, obj(b'"user_id":"%s","item_id":1.5,"event":"view"' % u),
         "invalid_field"),
        ("item_id beyond int64", u, obj(b'"user_id":"%s","item_id":99999999999999999999,'
                                        b'"event":"view"' % u), "invalid_field"),
        ("rating as a string", u, with_field(b'"rating":"5"'), "invalid_field"),
        ("rating overflows to inf", u, with_field(b'"rating":1e999'), "invalid_field"),
        ("rating boolean", u, with_field(b'"rating":true'), "invalid_field"),
        ("event id as a number", u, with_field(b'"event_id":17'), "invalid_field"),
        ("ts as a string", u, with_field(b'"ts":"yesterday"'), "invalid_field"),
        ("negative ts", u, with_field(b'"ts":-5'), "invalid_field"),
        ("ts overflows to -inf", u, with_field(b'"ts":-1e999'), "invalid_field"),
        ("ts in milliseconds past year 5000", u, with_field(b'"ts":1700000000000'),
         "invalid_field"),
        # Unknown event types.
        ("unknown event type", u, obj(b'"user_id":"%s","item_id":"1","event":"teleport"' % u),
         "invalid_field"),
        ("event type in capitals", u, obj(b'"user_id":"%s","item_id":"1","event":"VIEW"' % u),
         "invalid_field"),
        ("event type empty", u, obj(b'"user_id":"%s","item_id":"1","event":""' % u),
         "invalid_field"),
        # Timestamps the stream cannot trust.
        ("ts in the year 2100", u, with_field(b'"ts":4102444800'), "bad_timestamp"),
        # Keys: the key must be the user id, as UTF-8.
        ("null key", None, obj(ok), "missing_key"),
        ("empty key", b"", obj(ok), "missing_key"),
        ("key is not UTF-8", b"\xff\xfe", obj(ok), "invalid_key"),
        ("key differs from user_id", u + b"-other", obj(ok), "key_mismatch"),
        ("key with a different case", u.upper() + b"X", obj(ok), "key_mismatch"),
        # Values.
        ("null value (tombstone)", u, None, "missing_value"),
        ("empty value", u, b"", "missing_value"),
        ("2 MB valid-looking value", u, with_field(b'"pad":"' + b"x" * big + b'"'), "too_large"),
        ("2 MB of garbage", u, b"\x00" * big, "too_large"),
        # The same event sent twice (a producer retry): the second copy is not applied again.
        ("duplicated event id", u, with_field(b'"event_id":"%s"' % duplicate_of.encode()),
         "duplicate_event"),
    ]  # fmt: skip
    return [BadRecord(what, key, value, reason) for what, key, value, reason in records]
