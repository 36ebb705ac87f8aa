"""``faust -A app dlq`` on a real broker and real workers: dead letters counted by reason,
shown whole, and redriven once each after the fix, with their origin on every copy."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable

import msgspec

from app.kafka.bounded import read_to_end
from tests.support.deployment import Deployment
from tests.support.dlq import run_dlq as dlq

FAULTY = "tests.support.faulty_app"  # STREAMREC_TEST_FAULT=poison: batches with "poison" fail


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def counts(d: Deployment) -> dict[str, tuple[int, int]]:
    """Reason -> (records, redriven) from the summary table."""
    lines = ok(dlq(d))
    return {row.split()[0]: (int(row.split()[1]), int(row.split()[2])) for row in lines[2:]}


def event(user: str, n: int) -> tuple[bytes, bytes]:
    value = {"user_id": user, "item_id": "poison", "event": "view", "event_id": f"poison-{n}"}
    return user.encode(), msgspec.json.encode(value)


async def redriven_in_input(d: Deployment) -> list[dict[str, str]]:
    """The redrive headers of every redriven record of the input topic."""
    found = []
    async for record in read_to_end(d.brokers, d.input_topic):
        headers = {k: v.decode() for k, v in record.headers}
        if "streamrec.redrive.offset" in headers:
            found.append(headers)
    return found


async def test_dead_letters_are_counted_shown_and_redriven_once_each_after_the_fix(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    faulty = d.start_worker(app_module=FAULTY, STREAMREC_TEST_FAULT="poison",
                            STREAMREC_BATCH_RETRIES="0")  # fmt: skip
    await d.produce([event("p1", 1), event("p2", 2), (b"u9", b"{oops"),
                     (None, b'{"user_id":"u9","item_id":"1","event":"view"}')])  # fmt: skip
    first = await d.consume(d.dlq_topic, 4)
    assert len(first) == 4
    before = dt.datetime.now(dt.UTC).isoformat()  # every dead letter so far came earlier

    assert counts(d) == {"invalid_json": (1, 0), "missing_key": (1, 0),
                         "processing_error": (2, 0)}  # fmt: skip
    listed = ok(dlq(d, "--list", "--reason", "processing_error"))
    positions = [line.split()[0] for line in listed[1:]]
    assert len(positions) == 2 and all("processing_error" in line for line in listed[1:])
    shown = json.loads("\n".join(ok(dlq(d, "--show", positions[0]))))
    assert shown["reason"] == "processing_error" and "poison" in shown["error"]
    assert shown["error_class"] == "RuntimeError" and shown["redriven_from"] is None
    assert shown["source"]["topic"] == d.input_topic
    assert shown["event"]["item_id"] == "poison" and shown["key"] == shown["event"]["user_id"]
    missing = dlq(d, "--show", "3:999")
    assert missing.returncode == 1 and "no dead letter at 3:999" in missing.stderr

    selected = ("--redrive", "--reason", "processing_error", "--until", before)
    assert "would redrive 2 dead letter(s)" in ok(dlq(d, *selected, "--dry-run"))[0]
    assert await redriven_in_input(d) == []  # a dry run sends nothing
    assert any("redrove 2 dead letter(s)" in line for line in ok(dlq(d, *selected)))
    again = ok(dlq(d, *selected))
    assert "redriving 0 dead letter(s)" in again[0]
    assert "2 selected dead letter(s) were redriven before: not sent again" in again
    sent = await redriven_in_input(d)
    assert sorted(f"{h['streamrec.redrive.partition']}:{h['streamrec.redrive.offset']}"
                  for h in sent) == sorted(positions)  # fmt: skip
    assert {(h["streamrec.redrive.topic"], h["streamrec.redrive.count"],
             h["streamrec.redrive.reason"]) for h in sent} == {
        (d.dlq_topic, "1", "processing_error")}  # fmt: skip

    # The bug is not fixed yet: they fail again, and their new dead letters say whence.
    assert len(await d.consume(d.dlq_topic, 6)) == 6
    assert counts(d)["processing_error"] == (4, 2)
    relisted = ok(dlq(d, "--list", "--reason", "processing_error"))[1:]
    refailed = [line.split()[0] for line in relisted if "redriven 1x before" in line]
    assert len(refailed) == 2
    origin = json.loads("\n".join(ok(dlq(d, "--show", refailed[0]))))["redriven_from"]
    assert f"{origin['partition']}:{origin['offset']}" in positions and origin["count"] == "1"

    # The fix: a worker without the fault. Only the letters not redriven yet go.
    faulty.stop()
    worker = d.start_worker()
    done = ok(dlq(d, "--redrive", "--reason", "processing_error"))
    assert "redriving 2 dead letter(s)" in done[0] and any("redrove 2" in x for x in done)
    outputs = await d.consume(d.output_topic, 2, settle=2.0)
    ids = sorted(msgspec.json.decode(o.value)["event_id"] for o in outputs)
    assert ids == ["poison-1", "poison-2"]  # processed, once each
    sent = await redriven_in_input(d)
    origins = [(h["streamrec.redrive.partition"], h["streamrec.redrive.offset"]) for h in sent]
    assert len(sent) == 4 and len(set(origins)) == 4  # every dead letter sent back once
    assert sorted(h["streamrec.redrive.count"] for h in sent) == ["1", "1", "2", "2"]
    assert counts(d)["processing_error"] == (4, 4)  # markers are written before it exits
    assert worker.alive()
