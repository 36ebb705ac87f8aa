"""Real things for integration tests: the embedded broker and `faust -A app worker` processes.

Each test gets its own namespace (app id, topics, data dir, web port), so tests sharing the
session's broker never see each other's groups, tables or records.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from app.kafka.brokers import PLAINTEXT, Brokers, KafkaSecurity
from app.kafka.topics import ensure_topics
from app.training.movielens import load_ratings
from devtools.broker import EmbeddedBroker
from devtools.namespace import Namespace
from devtools.net import free_port, http_get
from devtools.processes import WorkerProcess
from devtools.reader import read_topics
from devtools.replay import interaction_value
from devtools.verify.check import Report, Traffic
from devtools.verify.run import collect, send

pytestmark = pytest.mark.integration

PARTITIONS = 4


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker("127.0.0.1", free_port(), log=log) as b:
        yield b


@dataclass
class Deployment:
    """One streamrec deployment under test: its settings and the workers started for it."""

    broker: EmbeddedBroker
    root: Path
    ns: str
    extra_env: dict[str, str]
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
        return self.names.worker_env(index, port, **self.extra_env)

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
        await ensure_topics(
            self.brokers, [self.input_topic, self.output_topic, self.dlq_topic], PARTITIONS
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
        status, body = http_get(worker.web_url + path)
        return status, (msgspec.json.decode(body) if body else None)


@pytest.fixture
async def deployment_factory(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[Callable[..., Deployment]]:
    """Make deployments (``extra_env`` overrides settings); all their workers stop after."""
    made: list[Deployment] = []

    def make(**extra_env: str) -> Deployment:
        ns = uuid.uuid4().hex[:8]
        d = Deployment(broker, tmp_path / ns, ns, extra_env)
        made.append(d)
        return d

    yield make
    for d in made:
        for w in d.workers:
            w.stop()


class RedisServer:
    """A private ``redis-server`` (the machine's binary) that a test may stop and start again.

    The shared Redis on 127.0.0.1:6379 serves the other tests; this one can fail on purpose.
    """

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server not found: `make test` installs it (Debian redis-server)"
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=(self.root / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert wait_for(self._answers, 10), "private redis-server did not start"
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class TcpProxy:
    """Forwards a port to the broker; ``cut()`` drops every connection and refuses new ones
    (the broker unreachable, its data kept, as when a real Kafka broker restarts). With
    ``tls``, clients must speak TLS to it (it terminates TLS in front of the broker)."""

    def __init__(self, target_port: int, tls: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.tls = tls
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)
        return self

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or the deadline: no sleep-and-hope."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


MovieLensSlice = Callable[..., list[tuple[bytes, bytes]]]


@pytest.fixture
def movielens_slice() -> MovieLensSlice:
    """``make(users, per_user, seed=7)``: real ml-100k events of a seeded sample of users, in
    time order, each with an event id, as (key, value) records."""

    def make(users: int, per_user: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
        ratings = load_ratings()
        everyone = sorted({r.user_id for r in ratings}, key=int)
        chosen = set(random.Random(seed).sample(everyone, users))
        taken: dict[str, int] = defaultdict(int)
        records = []
        for r in ratings:
            if r.user_id in chosen and taken[r.user_id] < per_user:
                taken[r.user_id] += 1
                value = msgspec.json.decode(interaction_value(r))
                value["event_id"] = f"ml-{r.user_id}-{r.item_id}"
                records.append((r.user_id.encode(), msgspec.json.encode(value)))
        return records

    return make
