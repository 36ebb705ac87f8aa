"""Model commands for the whole deployment: every worker reads the control topic.

A POST to /models/{name}/reload reaches one worker; a record on the control topic reaches
all of them. Each worker reads every partition of it without a consumer group (a group
would hand each record to one worker only), from the end: a command is for the workers
running when it is sent. Records stamped before this worker started are skipped, so a
broker that answers "latest" with an earlier offset (the embedded one does) replays none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.admin import AdminAuth
from app.brokers import Brokers
from app.errors import StreamrecError

__all__ = ["ControlListener", "ModelCommand", "send_command"]

logger = logging.getLogger(__name__)


class ModelCommand(msgspec.Struct, frozen=True):
    """One control record's value: ``{"model": "itemsvd", "action": "reload", "ts":
    1764633600.0, "sig": "<hex HMAC-SHA256>"}`` (``send_command`` signs it)."""

    model: str
    action: Literal["reload", "rollback"]
    ts: float | None = None
    sig: str = ""

    def content(self) -> bytes:
        """What the signature covers (with ``ts``)."""
        return f"{self.model}\n{self.action}".encode()


Handler = Callable[[ModelCommand], Awaitable[None]]
Rejected = Callable[[str], None]
"""Called with the reason of each ignored command (a metric label)."""


class ControlListener:
    """Reads the control topic and runs each command with ``handler``, one at a time."""

    def __init__(
        self,
        brokers: Brokers,
        topic: str,
        handler: Handler,
        auth: AdminAuth,
        rejected: Rejected = lambda reason: None,
    ) -> None:
        self.brokers = brokers
        self.topic = topic
        self.handler = handler
        self.auth = auth
        self.rejected = rejected
        self.started_ms = int(time.time() * 1000)

    async def run(self) -> None:
        """Until cancelled; a broker problem is logged and retried, never fatal."""
        while True:
            consumer = AIOKafkaConsumer(
                self.topic,
                **self.brokers.client_kwargs(),
                group_id=None,
                auto_offset_reset="latest",
                enable_auto_commit=False,
            )
            try:
                await consumer.start()
                async for record in consumer:
                    await self._handle(record.value, record.timestamp)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("control topic %s: %s; retrying in 5 s", self.topic, exc)
                await asyncio.sleep(5.0)
            finally:
                await consumer.stop()

    async def _handle(self, value: bytes | None, timestamp: int) -> None:
        if timestamp < self.started_ms:
            return
        try:
            command = msgspec.json.decode(value or b"", type=ModelCommand)
        except msgspec.DecodeError as exc:
            logger.error("control topic %s: ignoring %r: %s", self.topic, value, exc)
            return
        denied = self.auth.verify(command.content(), command.ts, command.sig, time.time())
        if denied is not None:
            logger.warning("control topic %s: ignoring %s of %s: %s", self.topic,
                           command.action, command.model, denied.message)  # fmt: skip
            self.rejected(denied.reason)
            return
        logger.info("control topic: %s %s", command.action, command.model)
        try:
            await self.handler(command)
        except StreamrecError as exc:
            logger.error("control command %s of %s refused: %s", command.action,
                         command.model, exc)  # fmt: skip


async def send_command(
    brokers: Brokers, topic: str, command: ModelCommand, auth: AdminAuth
) -> None:
    """Sign and publish one command for every worker (the ``models`` CLI command uses this)."""
    ts = round(time.time(), 3)
    signed = msgspec.structs.replace(command, ts=ts, sig=auth.sign(command.content(), ts))
    producer = AIOKafkaProducer(**brokers.client_kwargs(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, msgspec.json.encode(signed))
    finally:
        await producer.stop()
