"""Bad input goes to the dead-letter topic, untouched and explained; the worker carries on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import msgspec

from devtools.net import http_get
from devtools.verify.corpus import malformed_records
from tests.support.deployment import Deployment


def valid(user: str, item: str, n: int) -> tuple[bytes, bytes]:
    value = {"user_id": user, "item_id": item, "event": "view", "event_id": f"ok-{n}"}
    return user.encode(), msgspec.json.encode(value)


# The shared corpus (a duplicated event needs its original: see test_reliability).
MALFORMED = [
    (r.key, r.value, r.reason)
    for r in malformed_records("u1", duplicate_of="unused")
    if r.reason != "duplicate_event"
]


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
    for reason, n in Counter(r for _, _, r in MALFORMED).items():
        assert f'streamrec_dead_letters_total{{reason="{reason}"}} {float(n)}' in text
