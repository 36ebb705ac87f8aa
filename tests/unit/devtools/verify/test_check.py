"""The verifier's arithmetic: lost, duplicated, reordered, dead-lettered."""

from __future__ import annotations

from collections import Counter

import msgspec

from devtools.verify.check import Traffic, check, make_traffic

ITEMS = [str(i) for i in range(1, 50)]


def outputs_for(traffic: Traffic, ids: list[str]) -> list[bytes]:
    return [msgspec.json.encode({"event_id": eid, "items": []}) for eid in ids]


def in_send_order(traffic: Traffic) -> list[str]:
    order = []
    for _, value in traffic.records:
        eid = traffic.valid_values.get(value or b"")
        if eid is not None and eid not in order:  # a duplicated event may repeat the bytes
            order.append(eid)
    return order


def dlq_for(traffic: Traffic) -> list[tuple[bytes | None, bytes | None, str]]:
    return [(key, value, reason) for (key, value), reason in traffic.bad]


def test_traffic_holds_sequences_and_the_corpus() -> None:
    traffic = make_traffic(3, 5, ITEMS, bad_users=1, run="r1")
    assert traffic.n_valid == 15
    assert traffic.valid["r1-u0"] == [f"r1:r1-u0:{n}" for n in range(5)]
    assert len(traffic.bad) >= 40
    assert len(traffic.records) == 15 + len(traffic.bad)
    # Every malformed record comes after the user's first event (the duplicate needs it).
    assert traffic.records[0] == (b"r1-u0", next(iter(traffic.valid_values)))
    later = Counter(traffic.records[1:])
    assert Counter(bad for bad, _ in traffic.bad) - later == Counter()


def test_everything_delivered_once_is_ok() -> None:
    traffic = make_traffic(4, 6, ITEMS, bad_users=1)
    report = check(traffic, outputs_for(traffic, in_send_order(traffic)), dlq_for(traffic))
    assert report.ok, report.summary()
    assert (report.outputs, report.duplicates, report.lost) == (24, 0, [])
    assert sum(report.dlq_by_reason.values()) == len(traffic.bad)
    assert report.dlq_by_reason["duplicate_event"] == 1


def test_lost_duplicated_and_reordered_are_reported() -> None:
    traffic = make_traffic(2, 4, ITEMS)
    ids = in_send_order(traffic)  # u0:0 u1:0 u0:1 u1:1 ...
    delivered = ids[:1] + ids[2:3] + ids[1:2] + ids[3:]  # u1:0 after u0:1 is fine (other user)
    delivered = delivered[:-1]  # the last event is lost
    delivered += ids[:2]  # a replay of the first two: duplicates, not reorderings
    swapped = ids[4], ids[2]  # u0:2 before u0:1: a real reordering
    report = check(traffic, outputs_for(traffic, delivered), [])
    assert report.lost == [ids[-1]]
    assert report.duplicates == 2
    assert report.order_violations == 0
    reordered = check(traffic, outputs_for(traffic, [ids[0], *swapped]), [])
    assert reordered.order_violations == 1
    assert not reordered.ok


def test_dead_letters_are_matched_by_bytes_with_their_reason() -> None:
    traffic = make_traffic(1, 3, ITEMS, bad_users=1)
    dead = dlq_for(traffic)
    # Null and empty keys/values compare equal (Kafka clients differ there).
    dead = [(k or b"" if k is None else k, v, r) for k, v, r in dead]
    key, value, _ = dead[0]
    dead[0] = (key, value, "some_other_reason")
    dead.append(dead[1])  # sent again after a crash
    report = check(traffic, outputs_for(traffic, in_send_order(traffic)), dead)
    assert report.dlq_wrong_reason == 1
    assert report.dlq_duplicates == 1
    assert report.dlq_missing == 0
    missing = check(traffic, outputs_for(traffic, in_send_order(traffic)), dead[2:-1])
    assert missing.dlq_missing == 2 and not missing.ok


def test_valid_events_in_the_dlq_are_not_lost() -> None:
    traffic = make_traffic(1, 3, ITEMS)
    key, value = traffic.records[1]
    ids = in_send_order(traffic)
    report = check(traffic, outputs_for(traffic, [ids[0], ids[2]]),
                   [(key, value, "processing_error")])  # fmt: skip
    assert report.lost == []
    assert report.valid_in_dlq == 1
    assert report.dlq_by_reason == {"processing_error": 1}


def test_other_runs_are_ignored() -> None:
    mine, other = make_traffic(1, 2, ITEMS), make_traffic(1, 2, ITEMS)
    outputs = outputs_for(mine, in_send_order(mine)) + outputs_for(other, in_send_order(other))
    report = check(mine, outputs, dlq_for(other))
    assert report.ok and report.outputs == 2 and report.unexpected == 0
