"""Send verifiable traffic to a deployment and collect what it produced."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from app.replay import produce_open_loop
from app.verify.check import Report, Traffic, check

__all__ = ["Collected", "collect", "send"]

logger = logging.getLogger(__name__)

REASON_HEADER = "streamrec.error.reason"


async def send(bootstrap: list[str], topic: str, traffic: Traffic, rate: float = 0.0) -> None:
    """Produce the traffic's records in order (``rate`` per second, 0 = flat out)."""
    await produce_open_loop(traffic.records, bootstrap_servers=bootstrap, topic=topic, rate=rate)


@dataclass
class Collected:
    """Output values and dead letters read so far, in topic order per partition."""

    outputs: list[bytes] = field(default_factory=list)
    dead: list[tuple[bytes | None, bytes | None, str]] = field(default_factory=list)

    def report(self, traffic: Traffic) -> Report:
        return check(traffic, self.outputs, self.dead)


async def collect(
    bootstrap: list[str],
    output_topic: str,
    dlq_topic: str,
    traffic: Traffic,
    *,
    within_s: float = 120.0,
    settle: float = 2.0,
) -> Collected:
    """Read both topics from the start until every event of ``traffic`` is accounted for (an
    output per valid event, a dead letter per malformed one), then ``settle`` seconds more so
    duplicates show too; or until ``within_s`` passed. Offsets are not trusted for "the end": the
    embedded broker's ListOffsets is not the high watermark."""
    consumer = AIOKafkaConsumer(
        output_topic, dlq_topic, bootstrap_servers=bootstrap, group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20,
    )  # fmt: skip
    await consumer.start()
    got = Collected()
    deadline = time.monotonic() + within_s
    next_check = 0.0
    try:
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for r in records:
                    if tp.topic == output_topic:
                        if r.value is not None:
                            got.outputs.append(r.value)
                    else:
                        headers = dict(r.headers)
                        reason = headers.get(REASON_HEADER, b"").decode("utf-8", "replace")
                        got.dead.append((r.key, r.value, reason))
            now = time.monotonic()
            if now >= next_check and deadline - now > settle:
                next_check = now + 0.5
                report = got.report(traffic)
                if not report.lost and not report.dlq_missing:
                    deadline = now + settle
    finally:
        await consumer.stop()
    return got
