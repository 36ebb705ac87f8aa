"""Two workers: per-user views answer the owner's value whichever worker is asked."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from devtools.net import http_get
from tests.support.deployment import Deployment
from tests.support.waiting import wait_for


async def test_views_route_to_the_partition_owner(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory()
    await d.create_topics()
    first = d.start_worker()
    second = d.start_worker()
    assert wait_for(lambda: http_get(first.web_url + "/health/ready")[0] == 200, 60)

    users = [str(u) for u in range(100, 150)]
    records = []
    for round_ in range(3):
        for u in users:
            value = {"user_id": u, "item_id": str(round_ * 7 + int(u) % 5 + 1), "event": "view"}
            records.append((u.encode(), msgspec.json.encode(value)))
    await d.produce(records)
    outputs = await d.consume(d.output_topic, len(records), settle=1.0)
    assert len(outputs) == len(records)
    latest = {}
    for o in sorted(outputs, key=lambda o: (o.partition, o.offset)):
        latest[o.key.decode()] = msgspec.json.decode(o.value)

    def answers_match(user: str) -> bool:
        for worker in (first, second):
            status, body = http_get(f"{worker.web_url}/recommendations/{user}/")
            if status != 200 or msgspec.json.decode(body) != latest[user]:
                return False
            # The owner's state: three events, its last update's items.
            status, body = http_get(f"{worker.web_url}/features/{user}/")
            state = msgspec.json.decode(body) if status == 200 else {}
            shown = [i["item_id"] for i in latest[user]["items"]]
            if state.get("n_events") != 3 or state.get("recommended") != shown:
                return False
        return True

    # Answers settle once the rebalance is over; one deadline for all users.
    wait_for(lambda: all(answers_match(u) for u in users), timeout=30, interval=0.5)
    wrong = [u for u in users if not answers_match(u)]
    assert wrong == [], f"{len(wrong)} users answered wrongly by some worker"
    # Both workers own partitions, so some answers were forwarded (else this proves nothing).
    _, body = http_get(first.web_url + "/router/")
    owners = msgspec.json.decode(body)
    changelog = d.output_topic  # the latest table's changelog
    assert {url: bool(tables.get(changelog)) for url, tables in owners.items()} == {
        first.web_url: True,
        second.web_url: True,
    }
