"""Whether the broker answers: a metadata request for the input topic, once a second.

Faust's consumer and the producers retry a lost broker for ever and say so only in their logs;
measured before this probe, a worker whose broker stopped answered /health/ready 200 (lag 0)
for 40 s while logging 3,556 "Unable connect to node" errors. The probe runs on the worker's
loop, never per event, and gives up after PROBE_TIMEOUT_S (a broker that takes longer to
answer a one-topic metadata request is not serving a stream either). It has its own client,
with the address and security every other client uses, so it answers before a model is
loaded too (the agent's producer starts only then).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from app.kafka.brokers import Brokers
from app.worker.health_state import WorkerHealth

__all__ = ["PROBE_EVERY_S", "PROBE_TIMEOUT_S", "BrokerWatch"]

logger = logging.getLogger(__name__)

PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 3.0


class BrokerWatch:
    """Probes the broker and tells ``health``; ``run`` is the worker task that does it."""

    def __init__(
        self,
        brokers: Brokers,
        topic: str,
        health: WorkerHealth,
        *,
        timeout_s: float = PROBE_TIMEOUT_S,
        every_s: float = PROBE_EVERY_S,
    ) -> None:
        self.brokers = brokers
        self.topic = topic
        self.health = health
        self.timeout_s = timeout_s
        self.every_s = every_s
        self._client: AIOKafkaClient | None = None

    async def run(self) -> None:
        """Probe every PROBE_EVERY_S until the worker stops (a Faust task)."""
        try:
            while True:
                await self.probe()
                await asyncio.sleep(self.every_s)
        finally:
            await self.close()

    async def probe(self) -> bool:
        """Ask once; tell ``health`` whether the broker answered within the timeout."""
        try:
            await asyncio.wait_for(self._ask(), self.timeout_s)
        except TimeoutError:
            self.health.broker_seen(False, f"{self.brokers}: no answer in {self.timeout_s:g} s")
            return False
        except (KafkaError, OSError) as exc:
            self.health.broker_seen(False, f"{self.brokers}: {exc!r}")
            return False
        self.health.broker_seen(True)
        return True

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _ask(self) -> None:
        """One metadata request for the input topic (no topic is created by it), to the
        brokers the client knows in turn, until one answers; KafkaError if none does."""
        if self._client is None:
            # aiokafka binds a client to the running loop: made here, not in __init__.
            self._client = AIOKafkaClient(
                **self.brokers.client_kwargs(), client_id="streamrec-broker-watch"
            )
        client = self._client
        nodes = [broker.nodeId for broker in client.cluster.brokers()]
        if not nodes:
            await client.bootstrap()  # a metadata request of its own: an answer
            return
        request: Any = MetadataRequest([self.topic], False)
        for node in nodes:
            try:
                await client.send(node, request)
            except (KafkaError, OSError) as exc:
                logger.debug("broker %s did not answer the probe: %r", node, exc)
                continue
            return
        raise KafkaConnectionError(f"none of the brokers {nodes} answered")
