"""Producers with other partitioners than streamrec's (murmur2): confluent-kafka's defaults
(librdkafka, CRC32), an FNV-1a partitioner (Go's sarama), round-robin. Two workers, no setting
changed: every user's view and inference by user id answer the newest update on both workers,
nothing is lost, and the misrouting metric says which partitioner the records came with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import confluent_kafka
import msgspec
from aiokafka import AIOKafkaProducer

from app.kafka.partitioners import KeyPartitioner
from app.training.train import catalogue
from devtools.net import http_get, http_post, scrape_metrics
from devtools.replay import produce_open_loop
from devtools.verify.check import Report, Traffic, make_traffic
from devtools.verify.run import collect
from tests.support.deployment import PARTITIONS, Deployment
from tests.support.paths import MODELS
from tests.support.waiting import wait_for

ITEMS = catalogue()


def produce_with_confluent_kafka(bootstrap: str, topic: str, traffic: Traffic) -> None:
    """confluent-kafka as a new user writes it: defaults (librdkafka's CRC32 partitioner)."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    failed: list[object] = []
    for key, value in traffic.records:
        producer.produce(topic, value, key, on_delivery=lambda e, _: e and failed.append(e))
        producer.poll(0)
    assert producer.flush(60) == 0 and failed == []


async def produce_round_robin(d: Deployment, traffic: Traffic) -> None:
    producer = AIOKafkaProducer(**d.brokers.client_kwargs(), acks="all")
    await producer.start()
    try:
        sent = [await producer.send(d.input_topic, v, key=k, partition=n % PARTITIONS)
                for n, (k, v) in enumerate(traffic.records)]  # fmt: skip
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def newest_updates(outputs: list[bytes], traffic: Traffic) -> dict[str, str]:
    """Each user's newest update (event id) on the output topic (one partition per user)."""
    newest = {}
    for value in outputs:
        update = msgspec.json.decode(value)
        if update["user_id"] in traffic.valid:
            newest[update["user_id"]] = update["event_id"]
    return newest


async def test_views_answer_the_newest_update_whatever_partitioner_the_producers_use(
    deployment_factory: Callable[..., Deployment],
) -> None:
    d = deployment_factory(STREAMREC_MODEL_DIR=str(MODELS))
    await d.create_topics()
    workers = [await asyncio.to_thread(d.start_worker) for _ in range(2)]
    traffics = {name: make_traffic(15, 8, ITEMS, run=name)
                for name in ("murmur2", "crc32", "fnv1a", "roundrobin")}  # fmt: skip
    await produce_open_loop(traffics["murmur2"].records, brokers=d.brokers, topic=d.input_topic)
    await asyncio.to_thread(
        produce_with_confluent_kafka, d.brokers.servers[0], d.input_topic, traffics["crc32"]
    )
    await produce_open_loop(traffics["fnv1a"].records, brokers=d.brokers, topic=d.input_topic,
                            partitioner=KeyPartitioner("fnv1a"))  # fmt: skip
    await produce_round_robin(d, traffics["roundrobin"])

    reports: dict[str, Report] = {}
    newest: dict[str, str] = {}
    for name, traffic in traffics.items():
        got = await collect(d.brokers, d.output_topic, d.dlq_topic, traffic, within_s=120)
        reports[name] = got.report(traffic)
        newest.update(newest_updates(got.outputs, traffic))
    for name, report in reports.items():
        assert not report.lost and report.duplicates == 0, (name, report.summary())
        if name != "roundrobin":  # each user's records all came one way: order kept
            assert report.ok, (name, report.summary())

    def answered(worker_url: str, user: str) -> bool:
        status, body = http_get(f"{worker_url}/recommendations/{user}/")
        return status == 200 and msgspec.json.decode(body)["event_id"] == newest[user]

    def unanswered() -> list[tuple[str, str]]:
        return [(w.web_url, u) for w in workers for u in newest if not answered(w.web_url, u)]

    assert await asyncio.to_thread(wait_for, lambda: not unanswered(), 60), unanswered()[:5]
    for worker in workers:
        for user in newest:
            request = {"inputs": [{"name": "user_id", "shape": [1], "datatype": "BYTES",
                                   "data": [user]}]}  # fmt: skip
            status, body, _ = await asyncio.to_thread(
                http_post, f"{worker.web_url}/v2/models/itemsvd/infer",
                msgspec.json.encode(request),
            )  # fmt: skip
            assert status == 200, (user, body)

    moved = {p: sum(scrape_metrics(w.web_url).get(
        f'streamrec_misrouted_records_total{{partitioner="{p}"}}', 0.0) for w in workers)
        for p in ("murmur2", "crc32", "fnv1a", "unknown")}  # fmt: skip
    assert moved["murmur2"] == 0 and moved["crc32"] > 0 and moved["fnv1a"] > 0, moved
    print({"moved": moved, **{n: r.summary() for n, r in reports.items()}})
