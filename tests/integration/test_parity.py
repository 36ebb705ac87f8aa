"""Training/serving parity: the stream's top-10 equals the offline top-10 for the same history."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.features.state import UserFeatureState
from app.inference.registry import ModelRegistry
from app.records import ScoredItem
from app.training.evaluate import offline_top_k
from app.training.movielens import Rating
from app.training.split import stream_state
from devtools.net import http_get
from tests.support.deployment import Deployment
from tests.support.movielens import MovieLensSlice
from tests.support.paths import MODELS, ROOT

# Scores of one row may differ in the last bits with the batch it was computed in; two items
# closer than this may trade places without it being a parity error.
TIE = 1e-5


async def stream_top10(d: Deployment, records: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Send ``records`` through the deployment's worker; each user's last update."""
    await d.produce(records)
    outputs = await d.consume(d.output_topic, len(records), settle=1.0)
    assert len(outputs) == len(records)
    return {
        o.key.decode(): msgspec.json.decode(o.value)
        for o in sorted(outputs, key=lambda o: (o.partition, o.offset))
    }


def stream_states(records: list[tuple[bytes, bytes]]) -> dict[str, UserFeatureState]:
    """Each user's state after ``records``, built offline by the stream's own feature code
    (items, ratings and event times: what every builder may read)."""
    events: dict[str, list[Rating]] = defaultdict(list)
    for _, value in records:
        e = msgspec.json.decode(value)
        events[e["user_id"]].append(Rating(e["user_id"], e["item_id"], e["rating"], e["ts"]))
    return {user: stream_state(evs) for user, evs in events.items()}


def mismatches(offline: dict[str, list[ScoredItem]], streamed: dict[str, Any]) -> list[Any]:
    """(user, position, offline, streamed) of each user whose lists differ beyond a tie."""
    found = []
    for user, items in offline.items():
        online = streamed[user]["items"]
        assert len(online) == len(items) == 10
        for position, (want, got) in enumerate(zip(items, online, strict=True)):
            if want.item_id != got["item_id"] and abs(want.score - got["score"]) > TIE:
                found.append((user, position, want, got))
                break
    return found


@pytest.mark.parametrize("model", ["itemsvd", "hybrid", "hybrid-rank"])
async def test_stream_top10_equals_offline_top10(
    deployment_factory: Callable[..., Deployment], movielens_slice: MovieLensSlice, model: str
) -> None:
    d = deployment_factory(STREAMREC_MODEL_NAME=model)
    await d.create_topics()
    worker = d.start_worker()
    records = movielens_slice(users=40, per_user=60, seed=11)
    streamed = await stream_top10(d, records)

    # Offline, each user's state is built from the same events by the stream's own feature
    # code: the hybrid also reads each item's age (its event time).
    states = stream_states(records)
    scorer = ModelRegistry(MODELS).load(model)
    assert mismatches(offline_top_k(scorer, states, k=10), streamed) == []

    # The worker's prequential counters moved: later events were judged against earlier updates.
    _, body = http_get(worker.web_url + "/metrics")
    text = body.decode()
    judged = len(records) - len(states)
    assert f'streamrec_prequential_events_total{{variant="main"}} {judged}.0' in text


async def test_a_two_input_model_trained_by_the_cli_serves_what_it_scores_offline(
    deployment_factory: Callable[..., Deployment],
    movielens_slice: MovieLensSlice,
    tmp_path: Path,
) -> None:
    """The model-input seam end to end: ``faust -A app train --algorithm itemsvd-rated``
    writes a model reading items *and* ratings; a worker serves it; its top-10 equals the
    offline top-10 of the same events, built by the stream's own feature code."""
    registry = tmp_path / "registry"
    trained = subprocess.run(
        [str(Path(sys.executable).with_name("faust")), "-A", "app", "train",
         "--algorithm", "itemsvd-rated", "--model-dir", str(registry)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    scorer = ModelRegistry(registry).load("itemsvd-rated")
    assert scorer.builders == {"history": "recent_items", "ratings": "recent_ratings"}

    d = deployment_factory(STREAMREC_MODEL_DIR=str(registry), STREAMREC_MODEL_NAME="itemsvd-rated")
    await d.create_topics()
    worker = d.start_worker()
    records = movielens_slice(users=40, per_user=60, seed=5)
    streamed = await stream_top10(d, records)
    assert {(u["model"], u["model_version"]) for u in streamed.values()} == {("itemsvd-rated", "1")}

    states = stream_states(records)
    offline = offline_top_k(scorer, states, k=10)
    assert mismatches(offline, streamed) == []
    # The ratings reach the model: without them, some users would get another top-10.
    unrated = {u: msgspec.structs.replace(s, recent_ratings=()) for u, s in states.items()}
    without = offline_top_k(scorer, unrated, k=10)
    changed = [u for u in offline if [i.item_id for i in offline[u]] != [
        i.item_id for i in without[u]]]  # fmt: skip
    assert changed, "the ratings input made no difference"

    _, meta = d.get_json(worker, "/v2/models/itemsvd-rated")
    assert isinstance(meta, dict)
    assert [(i["name"], i["feature"]) for i in meta["parameters"]["model_inputs"]] == [
        ("history", "recent_items"), ("ratings", "recent_ratings"),
    ]  # fmt: skip
