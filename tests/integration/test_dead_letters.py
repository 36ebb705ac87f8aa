"""Bad input goes to the dead-letter topic, untouched and explained; the worker carries on."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from app.processes import http_get
from tests.integration.conftest import Deployment


def valid(user: str, item: str, n: int) -> tuple[bytes, bytes]:
    value = {"user_id": user, "item_id": item, "event": "view", "event_id": f"ok-{n}"}
    return user.encode(), msgspec.json.encode(value)


MALFORMED: list[tuple[bytes | None, bytes | None, str]] = [
    (b"u1", b"{not json", "invalid_json"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"view"', "invalid_json"),
    (b"u1", b"\xff\xfe\x00garbage", "invalid_json"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"rate","rating":NaN}', "invalid_json"),
    (b"u1", b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}", "invalid_json"),
    (b"u1", b"[1,2,3]", "not_object"),
    (b"u1", b"null", "not_object"),
    (b"u1", b'{"user_id":"u1","event":"view"}', "missing_field"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"teleport"}', "invalid_field"),
    (b"u1", b'{"user_id":"u1","item_id":{"x":1},"event":"view"}', "invalid_field"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"rate","rating":1e999}', "invalid_field"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"view","ts":-5}', "invalid_field"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"view","ts":99999999999}', "bad_timestamp"),
    (b"u1", b'{"user_id":"u2","item_id":"1","event":"view"}', "key_mismatch"),
    (None, b'{"user_id":"u1","item_id":"1","event":"view"}', "missing_key"),
    (b"u1", None, "missing_value"),
    (b"u1", b"", "missing_value"),
    (b"u1", b'{"user_id":"u1","item_id":"1","event":"view","p":"' + b"x" * 70_000 + b'"}',
     "too_large"),
]  # fmt: skip


async def test_malformed_records_are_dead_lettered_and_valid_ones_processed(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker = d.start_worker()
    records: list[tuple[bytes | None, bytes | None]] = []
    n_valid = 0
    for i, (key, value, _) in enumerate(MALFORMED):
        records.append(valid("u1", str(i), n_valid))
        n_valid += 1
        records.append((key, value))
    records.append(valid("u1", "last", n_valid))  # processed after every bad one
    n_valid += 1
    await d.produce(records)

    dead = await d.consume(d.dlq_topic, len(MALFORMED), settle=1.0)
    outputs = await d.consume(d.output_topic, n_valid, settle=1.0)

    assert len(dead) == len(MALFORMED)
    got = []
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["streamrec.error.class"] == "InvalidInteraction"
        assert headers["streamrec.error.message"]
        assert headers["streamrec.source.topic"] == d.input_topic
        assert int(headers["streamrec.source.partition"]) in range(4)
        assert int(headers["streamrec.source.offset"]) >= 0
        assert float(headers["streamrec.source.timestamp"]) > 0
        # Kafka does not tell an empty value from a null one apart on every client path.
        value = record.value if record.value else None
        got.append((record.key, value, headers["streamrec.error.reason"]))
    expected = sorted(((k, v if v else None, r) for k, v, r in MALFORMED), key=repr)
    assert sorted(got, key=repr) == expected

    ids = sorted(msgspec.json.decode(o.value)["event_id"] for o in outputs)
    assert ids == sorted(f"ok-{n}" for n in range(n_valid))
    assert worker.alive()

    _, body = http_get(worker.web_url + "/metrics")
    text = body.decode()
    assert 'streamrec_dead_letters_total{reason="invalid_json"} 5.0' in text
    assert 'streamrec_dead_letters_total{reason="missing_value"} 2.0' in text
