"""Training/serving parity: the stream's top-10 equals the offline top-10 for the same history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.devtools.net import http_get
from app.inference.registry import ModelRegistry
from app.training.evaluate import offline_top_k
from tests.integration.conftest import Deployment, MovieLensSlice

MODELS = Path(__file__).resolve().parents[2] / "models"
# Scores of one row may differ in the last bits with the batch it was computed in; two items
# closer than this may trade places without it being a parity error.
TIE = 1e-5


async def test_stream_top10_equals_offline_top10(
    deployment_factory: Callable[..., Deployment], movielens_slice: MovieLensSlice
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker = d.start_worker()
    records = movielens_slice(users=40, per_user=60, seed=11)
    await d.produce(records)
    outputs = await d.consume(d.output_topic, len(records), settle=1.0)
    assert len(outputs) == len(records)

    history: dict[str, list[str]] = defaultdict(list)
    for _, value in records:
        event = msgspec.json.decode(value)
        history[event["user_id"]].append(event["item_id"])
    streamed = {}
    for o in sorted(outputs, key=lambda o: (o.partition, o.offset)):
        streamed[o.key.decode()] = msgspec.json.decode(o.value)["items"]

    scorer = ModelRegistry(MODELS).load("itemsvd")
    offline = offline_top_k(scorer, history, k=10)
    mismatched = []
    for user, items in offline.items():
        online = streamed[user]
        for position, (want, got) in enumerate(zip(items, online, strict=True)):
            if want.item_id != got["item_id"] and abs(want.score - got["score"]) > TIE:
                mismatched.append((user, position, want, got))
                break
        assert len(online) == len(items) == 10
    assert mismatched == []

    # The worker's prequential counters moved: later events were judged against earlier updates.
    _, body = http_get(worker.web_url + "/metrics")
    text = body.decode()
    judged = len(records) - len(history)
    assert f'streamrec_prequential_events_total{{variant="main"}} {judged}.0' in text
