"""A real worker serving a synthetic 100,000-item two-tower version through its ANN index:
every user answered, seen items never recommended, recall@10 against exact numpy >= 0.95 for
users of one taste cluster and of two."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import pytest

from devtools.catalog import Catalog, clustered_catalog, user_histories, write_two_tower_version
from tests.support.deployment import Deployment
from tests.support.two_tower import exact_top

N_ITEMS = 100_000
USERS, PER_USER = 300, 8


@pytest.fixture(scope="session")
def catalog_100k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Catalog]:
    """A model registry holding one synthetic two-tower version of 100,000 items."""
    root = tmp_path_factory.mktemp("two_tower_models")
    catalog = clustered_catalog(N_ITEMS, 64, 500, seed=0)
    write_two_tower_version(root, "twotower", "1", catalog)
    return root, catalog


async def test_a_worker_serves_a_100k_item_two_tower_version_through_its_index(
    deployment_factory: Callable[..., Deployment], catalog_100k: tuple[Path, Catalog]
) -> None:
    root, catalog = catalog_100k
    d = deployment_factory(
        STREAMREC_MODEL_DIR=str(root), STREAMREC_MODEL_NAME="twotower",
        STREAMREC_RETRIEVAL_BUILD_THREADS="2",
    )  # fmt: skip
    await d.create_topics()
    worker = d.start_worker()  # ready only once the index is built
    log = worker.log.read_text()
    built = log.index(f"index of {N_ITEMS} items built")
    assert "items indexed" in log[:built], "progress lines while it builds"
    assert built < log.index("serving twotower/1 as main")

    # Half the users of one taste cluster, half of two (a query between clusters: the hard
    # case for an index).
    histories = user_histories(catalog, USERS // 2, PER_USER, seed=5)
    two_tastes = user_histories(catalog, USERS // 2, PER_USER, tastes=2, seed=6)
    histories |= {f"two-{user}": items for user, items in two_tastes.items()}
    records = [
        (user.encode(), msgspec.json.encode(
            {"user_id": user, "item_id": items[n], "event": "view", "event_id": f"{user}-{n}"}))
        for n in range(PER_USER) for user, items in histories.items()
    ]  # fmt: skip
    await d.produce(records)
    outputs = await d.consume(d.output_topic, len(records), timeout=60)

    updates = {}
    for record in outputs:
        update = msgspec.json.decode(record.value)
        assert (update["model"], update["model_version"]) == ("twotower", "1")
        updates[update["event_id"]] = update
    assert len(outputs) == len(records) == len(updates), "one update per event"
    answered: dict[str, int] = defaultdict(int)
    recalls: dict[bool, list[float]] = defaultdict(list)
    for user, items in histories.items():
        for n in range(PER_USER):
            got = [i["item_id"] for i in updates[f"{user}-{n}"]["items"]]
            assert len(got) == 10 and not set(got) & set(items[: n + 1]), "never a seen item"
            answered[user] += 1
        recall = len(set(got) & set(exact_top(catalog, items))) / 10
        recalls[user.startswith("two-")].append(recall)
    assert len(answered) == USERS, "every user answered"
    for two, found in recalls.items():
        assert np.mean(found) >= 0.95, f"recall@10 {np.mean(found):.3f} (two tastes: {two})"
