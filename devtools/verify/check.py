"""Sequence-numbered traffic and the report of what became of it (lost, duplicated, DLQ).

Pure code, like Kafka's own verifiable producer/consumer: ``make_traffic`` builds the records
(valid events with per-user sequence numbers, optionally the malformed corpus mixed in) and
``check`` compares them with what appeared on the output and dead-letter topics.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from devtools.verify.corpus import malformed_records

__all__ = ["Report", "Traffic", "check", "make_traffic"]

Record = tuple[bytes | None, bytes | None]


@dataclass
class Traffic:
    """Records in send order, and what each should become."""

    run: str
    records: list[Record] = field(default_factory=list)
    valid: dict[str, list[str]] = field(default_factory=dict)
    """Per user, the event ids of its valid events in send order (its sequence)."""
    valid_values: dict[bytes, str] = field(default_factory=dict)
    """Value bytes of each valid event -> its event id."""
    bad: list[tuple[Record, str]] = field(default_factory=list)
    """Malformed records and the dead-letter reason each must get."""

    @property
    def n_valid(self) -> int:
        return sum(map(len, self.valid.values()))


def event_id(run: str, user: str, seq: int) -> str:
    return f"{run}:{user}:{seq}"


def make_traffic(
    n_users: int,
    per_user: int,
    items: Sequence[str],
    *,
    bad_users: int = 0,
    max_bytes: int = 65_536,
    run: str | None = None,
) -> Traffic:
    """``per_user`` valid events for each of ``n_users`` users, interleaved round-robin.

    The first ``bad_users`` users also get the whole malformed corpus, spread through their
    sequence after their first event; its duplicated event repeats the one just sent.
    """
    run = run or uuid.uuid4().hex[:8]
    traffic = Traffic(run)
    users = [f"{run}-u{n}" for n in range(n_users)]
    corpora = {
        user: malformed_records(user, event_id(run, user, 0), max_bytes)
        for user in users[:bad_users]
    }
    for seq in range(per_user):
        for n, user in enumerate(users):
            eid = event_id(run, user, seq)
            item = items[(n * 7919 + seq * 104_729) % len(items)]
            value = msgspec.json.encode(
                {"user_id": user, "item_id": item, "event": "view", "event_id": eid}
            )
            traffic.records.append((user.encode(), value))
            traffic.valid.setdefault(user, []).append(eid)
            traffic.valid_values[value] = eid
            corpus = corpora.get(user)
            if corpus and seq >= 1:
                # Spread what is left of the corpus evenly over the rest of the sequence.
                share = -(-len(corpus) // (per_user - seq))
                for bad in corpus[:share]:
                    record = (bad.key, bad.value)
                    if bad.reason == "duplicate_event":
                        # A producer retry: the event just sent, byte for byte, again.
                        record = (user.encode(), value)
                    traffic.records.append(record)
                    traffic.bad.append((record, bad.reason))
                del corpus[:share]
    return traffic


@dataclass
class Report:
    """What became of the traffic. ``ok``: nothing lost, nothing misrouted, order kept."""

    sent: int
    valid: int
    bad: int
    outputs: int
    lost: list[str]
    duplicates: int
    order_violations: int
    dlq_by_reason: Counter[str]
    dlq_duplicates: int
    valid_in_dlq: int
    """Valid events dead-lettered instead of processed (``processing_error``)."""
    dlq_missing: int
    dlq_wrong_reason: int
    unexpected: int

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.order_violations
            or self.dlq_missing
            or self.dlq_wrong_reason
            or self.unexpected
        )

    def summary(self) -> str:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(self.dlq_by_reason.items())) or "-"
        return (
            f"sent {self.sent} (valid {self.valid}, malformed {self.bad}); outputs {self.outputs}; "
            f"lost {len(self.lost)}; duplicated {self.duplicates}; order violations "
            f"{self.order_violations}; DLQ {sum(self.dlq_by_reason.values())} ({reasons}), "
            f"{self.dlq_duplicates} again; valid events in DLQ {self.valid_in_dlq}; "
            f"malformed not in DLQ {self.dlq_missing}; wrong reason {self.dlq_wrong_reason}; "
            f"unexpected {self.unexpected}: {'OK' if self.ok else 'FAILED'}"
        )


def check(
    traffic: Traffic,
    outputs: Iterable[bytes],
    dead: Iterable[tuple[bytes | None, bytes | None, str]],
) -> Report:
    """Compare ``traffic`` with output values (in topic order per partition) and dead
    letters as (key, value, reason header); records of other runs are ignored."""
    seq_of = {eid: (user, n) for user, ids in traffic.valid.items() for n, eid in enumerate(ids)}
    seen: Counter[str] = Counter()
    last_seq: dict[str, int] = {}
    order_violations = unexpected = 0
    for value in outputs:
        try:
            eid = msgspec.json.decode(value)["event_id"]
        except (msgspec.DecodeError, KeyError, TypeError):
            continue
        if not isinstance(eid, str) or not eid.startswith(traffic.run + ":"):
            continue  # another run's output
        if eid not in seq_of:
            unexpected += 1
            continue
        seen[eid] += 1
        if seen[eid] > 1:
            continue  # a redelivery: judged as a duplicate, not as an ordering error
        user, n = seq_of[eid]
        # First copies of a user's updates must follow the user's sequence.
        if n < last_seq.get(user, -1):
            order_violations += 1
        last_seq[user] = max(n, last_seq.get(user, -1))
    # Dead letters are matched by their bytes; Kafka does not keep an empty key or value
    # apart from a null one on every client path, so both compare as empty.
    waiting: dict[Record, list[str]] = {}
    for (bad_key, bad_value), reason in traffic.bad:
        waiting.setdefault((bad_key or None, bad_value or None), []).append(reason)
    by_reason: Counter[str] = Counter()
    wrong = dead_duplicates = 0
    valid_dead: Counter[str] = Counter()
    for dead_key, dead_value, reason in dead:
        reasons = waiting.get((dead_key or None, dead_value or None))
        if reasons is None:
            eid = traffic.valid_values.get(dead_value or b"")
            if eid is not None:
                # A valid event the worker could not process (e.g. a failing batch): not
                # lost, it waits in the DLQ with its reason.
                valid_dead[eid] += 1
                by_reason[reason] += 1
            elif dead_key and traffic.run.encode() in dead_key:
                unexpected += 1
            continue
        if not reasons:
            dead_duplicates += 1  # a dead letter sent again after a crash
            continue
        by_reason[reason] += 1
        if reason in reasons:
            reasons.remove(reason)
        else:
            reasons.pop()
            wrong += 1
    lost = [eid for eid in seq_of if not seen[eid] and not valid_dead[eid]]
    return Report(
        sent=len(traffic.records),
        valid=traffic.n_valid,
        bad=len(traffic.bad),
        outputs=sum(seen.values()),
        lost=lost,
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        dlq_duplicates=dead_duplicates,
        order_violations=order_violations,
        dlq_by_reason=by_reason,
        dlq_missing=sum(map(len, waiting.values())),
        valid_in_dlq=len(valid_dead),
        dlq_wrong_reason=wrong,
        unexpected=unexpected,
    )
