"""One streamrec deployment under test: its namespace on the shared broker and its workers.

Each test gets its own namespace (app id, topics, data dir, web port), so tests sharing the
session's broker never see each other's groups, tables or records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from app.kafka.brokers import PLAINTEXT, Brokers, KafkaSecurity
from app.kafka.topics import ensure_topics
from devtools.broker import EmbeddedBroker
from devtools.namespace import Namespace
from devtools.net import free_port, http_get
from devtools.processes import WorkerProcess
from devtools.reader import read_topics
from devtools.verify.check import Report, Traffic
from devtools.verify.run import collect, send

__all__ = ["LIGHT_MODEL", "PARTITIONS", "Deployment"]

PARTITIONS = 4
LIGHT_MODEL = "itemsvd"


@dataclass
class Deployment:
    """One streamrec deployment under test: its settings and the workers started for it."""

    broker: EmbeddedBroker
    root: Path
    ns: str
    extra_env: dict[str, str]
    default_model: bool = False
    """Serve the product's default model; otherwise ``LIGHT_MODEL`` unless ``extra_env``
    names one: tests of the mechanics load in a second and answer in cheap batches."""
    workers: list[WorkerProcess] = field(default_factory=list)
    security: KafkaSecurity = PLAINTEXT
    """How the broker is reached; workers and the test's own clients use it alike."""

    def __post_init__(self) -> None:
        self.names = Namespace(self.broker.url, self.root, PARTITIONS, self.ns, self.security)

    @property
    def brokers(self) -> Brokers:
        return self.names.brokers

    @property
    def input_topic(self) -> str:
        return self.names.input_topic

    @property
    def output_topic(self) -> str:
        return self.names.output_topic

    @property
    def dlq_topic(self) -> str:
        return self.names.dlq_topic

    @property
    def control_topic(self) -> str:
        return self.names.control_topic

    def env(self, index: int, port: int) -> dict[str, str]:
        pinned = {} if self.default_model else {"STREAMREC_MODEL_NAME": LIGHT_MODEL}
        return self.names.worker_env(index, port, **{**pinned, **self.extra_env})

    def start_worker(
        self,
        wait: bool = True,
        app_module: str = "app",
        data_dir: str | None = None,
        cwd: Path | None = None,
        **env: str,
    ) -> WorkerProcess:
        """Start a worker (``data_dir``: an earlier worker's, to restart it where it was;
        ``""``: the default one; ``cwd``: run it from there, as a user would)."""
        index = len(self.workers)
        settings = {**self.env(index, free_port()), **env}
        if data_dir is not None:
            settings["STREAMREC_DATA_DIR"] = data_dir
        if not settings["STREAMREC_DATA_DIR"]:
            del settings["STREAMREC_DATA_DIR"]
        worker = WorkerProcess(
            settings, log=self.root / f"worker{index}.log", app_module=app_module, cwd=cwd
        ).start()
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    async def create_topics(self) -> None:
        """The topics as an operator makes them: the output topic compacted (it is a changelog)."""
        await ensure_topics(self.brokers, [self.input_topic, self.dlq_topic], PARTITIONS)
        await ensure_topics(
            self.brokers, [self.output_topic], PARTITIONS, {"cleanup.policy": "compact"}
        )

    async def produce(
        self, records: list[tuple[bytes | None, bytes | None]], topic: str | None = None
    ) -> None:
        """Send (key, value) records with a plain Kafka client, in order, and wait for acks."""
        producer = AIOKafkaProducer(
            **self.brokers.client_kwargs(), acks="all", max_request_size=8 << 20
        )
        await producer.start()
        try:
            futures = [
                await producer.send(topic or self.input_topic, value, key=key)
                for key, value in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def consume(
        self, topic: str, count: int, timeout: float = 60.0, settle: float = 0.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Read ``topic`` from the start until ``count`` records arrived (then ``settle``
        seconds more, to catch extras) or the deadline passes."""
        return await read_topics(
            self.brokers, [topic], lambda got: len(got) >= count,
            within_s=timeout, settle_s=settle,
        )  # fmt: skip

    async def verify(self, traffic: Traffic, rate: float = 0.0, within_s: float = 120.0) -> Report:
        """Send ``traffic`` (unless ``rate`` < 0: already sent) and report what became of it."""
        if rate >= 0:
            await send(self.brokers, self.input_topic, traffic, rate=rate)
        got = await collect(
            self.brokers, self.output_topic, self.dlq_topic, traffic, within_s=within_s
        )
        return got.report(traffic)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the last started worker to exit; its code and everything it printed."""
        worker = self.workers[-1]
        assert worker.process is not None
        code = worker.process.wait(timeout)
        worker.stop()
        return code, worker.log.read_text(errors="replace")

    def get_json(self, worker: WorkerProcess, path: str) -> tuple[int, object]:
        status, body = http_get(worker.web_url + path, context=worker.tls)
        return status, (msgspec.json.decode(body) if body else None)
