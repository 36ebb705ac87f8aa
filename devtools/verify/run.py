"""Send verifiable traffic to a deployment and collect what it produced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.pipeline.decode import SYNTHETIC_HEADER
from devtools.reader import Records, read_topics
from devtools.replay import produce_open_loop
from devtools.verify.check import Report, Traffic, check

__all__ = ["VERIFY_MARK", "Collected", "collect", "send"]


REASON_HEADER = "streamrec.error.reason"
VERIFY_MARK = ((SYNTHETIC_HEADER, b"verify"),)
"""The headers ``faust -A app verify`` puts on its records: served like any event, kept out
of trending, the quality figures and retraining."""


async def send(
    brokers: Brokers,
    topic: str,
    traffic: Traffic,
    rate: float = 0.0,
    partitioner: KeyPartitioner | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Produce the traffic's records in order (``rate`` per second, 0 = flat out), each with
    ``headers`` (``VERIFY_MARK`` on a deployment: unmarked, the tests' traffic is judged)."""
    await produce_open_loop(
        traffic.records, brokers=brokers, topic=topic, rate=rate, partitioner=partitioner,
        headers=headers,
    )  # fmt: skip


@dataclass
class Collected:
    """Output values and dead letters read so far, in topic order per partition."""

    outputs: list[bytes] = field(default_factory=list)
    dead: list[tuple[bytes | None, bytes | None, str]] = field(default_factory=list)

    def report(self, traffic: Traffic) -> Report:
        return check(traffic, self.outputs, self.dead)


async def collect(
    brokers: Brokers,
    output_topic: str,
    dlq_topic: str,
    traffic: Traffic,
    *,
    within_s: float = 120.0,
    settle: float = 2.0,
) -> Collected:
    """Read both topics from the start until every event of ``traffic`` is accounted for (an
    output per valid event, a dead letter per malformed one), then ``settle`` seconds more so
    duplicates show too; or until ``within_s`` passed."""

    def accounted(records: Records) -> bool:
        report = _collected(records, output_topic).report(traffic)
        return not report.lost and not report.dlq_missing

    records = await read_topics(
        brokers, [output_topic, dlq_topic], accounted,
        within_s=within_s, settle_s=settle, check_every_s=0.5,
    )  # fmt: skip
    return _collected(records, output_topic)


def _collected(records: Records, output_topic: str) -> Collected:
    got = Collected()
    for r in records:
        if r.topic == output_topic:
            if r.value is not None:
                got.outputs.append(r.value)
        else:
            reason = dict(r.headers).get(REASON_HEADER, b"").decode("utf-8", "replace")
            got.dead.append((r.key, r.value, reason))
    return got
