"""Records on a partition their key does not belong to: found, counted, and moved.

A user's state, latest update and views live on the partition STREAMREC_KEY_PARTITIONER gives
the user id. A producer with another partitioner (librdkafka's CRC32, sarama's FNV-1a,
round-robin) puts the user's events elsewhere. Such a record is not applied where it arrived:
it is produced once more, unchanged (key, value, headers, timestamp) plus a header saying where
it came from, to its own partition of the input topic, and processed when it gets there. The
move is delivered before the batch is acked, so it is at-least-once like every output. A
record that was moved once is processed wherever it lands: two workers that disagree about
the partitioner cannot bounce a record for ever.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from app.kafka.partitioners import KeyPartitioner, guess
from app.pipeline.decode import InputRecord
from app.pipeline.result import Moved

__all__ = ["MOVED_FROM", "KeyRouting"]

logger = logging.getLogger(__name__)

MOVED_FROM = "streamrec.moved_from"
"""Header of a moved record: ``<partition>/<offset>`` where it first arrived."""
LOG_FIRST = 10
LOG_EVERY = 10_000


class KeyRouting:
    """Splits a batch into the records that belong here and those to move."""

    def __init__(self, partitioner: KeyPartitioner, partitions: int) -> None:
        self.partitioner = partitioner
        self.partitions = partitions
        self.seen = 0

    def split(
        self, records: Sequence[InputRecord]
    ) -> tuple[Sequence[InputRecord], list[Moved], Counter[str]]:
        """(records to process here, records to move, moved records by likely producer
        partitioner). The common case, every record at home, costs one lookup per record."""
        partition, n = self.partitioner.partition, self.partitions
        if all(r.key is None or partition(r.key, n) == r.partition for r in records):
            return records, [], Counter()
        here: list[InputRecord] = []
        moved: list[Moved] = []
        likely: Counter[str] = Counter()
        for r in records:
            if r.key is None or partition(r.key, n) == r.partition or _was_moved(r.headers):
                here.append(r)
                continue
            producer = guess(r.key, r.partition, n)
            likely[producer] += 1
            self._log(r, producer)
            headers = [*_header_list(r.headers), (MOVED_FROM, f"{r.partition}/{r.offset}".encode())]
            moved.append(Moved((r.key, r.value, headers), int(r.timestamp * 1000)))
        return here, moved, likely

    def _log(self, r: InputRecord, producer: str) -> None:
        self.seen += 1
        if self.seen <= LOG_FIRST or self.seen % LOG_EVERY == 0:
            assert r.key is not None
            logger.warning(
                "misrouted record #%d: key %r arrived on partition %d of %s, but %s puts it "
                "on %d (the producer looks like %s): moving it there. Set "
                "STREAMREC_KEY_PARTITIONER to the producers' partitioner to avoid the move",
                self.seen, r.key[:64], r.partition, r.topic, self.partitioner.name,
                self.partitioner.partition(r.key, self.partitions), producer,
            )  # fmt: skip


def _header_list(headers: object) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    pairs: Iterable[tuple[str, bytes]] = (
        headers.items() if isinstance(headers, Mapping) else headers  # type: ignore[assignment]
    )
    return list(pairs)


def _was_moved(headers: object) -> bool:
    return any(name == MOVED_FROM for name, _ in _header_list(headers))
