"""Model commands for the whole deployment: every worker reads the control topic.

A POST to /models/{name}/reload reaches one worker; a record on the control topic reaches
all of them. Each worker reads every partition of it without a consumer group (a group
would hand each record to one worker only), from the beginning:

- one-shot commands (``reload``, ``rollback``) are for the workers running when they are
  sent: records stamped before this worker started are not run;
- rollout commands (``canary``, ``promote``, ``abort``, and ``reload``, which ends a
  promotion) are folded into the deployment's ``RolloutState``, so a worker that starts or
  restarts learns the state by reading the topic before it serves (``on_state``).

Every command is signed with the admin token; a live one must also be recent. A replayed one
counts only if it is newer than the last command applied (``RolloutState.apply``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from app.errors import StreamrecError
from app.kafka.brokers import Brokers
from app.rollout.admin import AdminAuth
from app.rollout.state import ROLLOUT_ACTIONS, RolloutState

__all__ = ["ControlListener", "ModelCommand", "read_rollout_state", "send_command"]

logger = logging.getLogger(__name__)

Action = Literal["reload", "rollback", "canary", "promote", "abort", "adopt"]


class ModelCommand(msgspec.Struct, frozen=True):
    """One control record's value: ``{"model": "itemsvd", "action": "canary", "arg": "3:10",
    "ts": 1764633600.0, "sig": "<hex HMAC-SHA256>"}`` (``send_command`` signs it). ``arg``:
    ``V:P`` for canary, ``V`` for promote, abort and adopt, absent for reload and rollback;
    ``evidence``: what the automatic rollout decided a promote or abort on."""

    model: str
    action: Action
    arg: str = ""
    ts: float | None = None
    sig: str = ""
    evidence: dict[str, Any] | None = None

    def content(self) -> bytes:
        """What the signature covers (with ``ts``)."""
        parts = [self.model, self.action, *([self.arg] if self.arg else [])]
        if self.evidence is not None:
            parts.append(msgspec.json.encode(self.evidence, order="sorted").decode())
        return "\n".join(parts).encode()


Handler = Callable[[ModelCommand, RolloutState], Awaitable[None]]
"""Runs one live command, given the rollout state after it."""
StateHandler = Callable[[RolloutState], Awaitable[None]]
Rejected = Callable[[str], None]
"""Called with the reason of each ignored command (a metric label)."""


class _Fold:
    """The rollout state of one model from its commands, in the topic's order."""

    def __init__(self, model: str, state: RolloutState, auth: AdminAuth) -> None:
        self.model = model
        self.state = state
        self.auth = auth

    def decode(self, value: bytes | None, topic: str) -> ModelCommand | None:
        try:
            return msgspec.json.decode(value or b"", type=ModelCommand)
        except msgspec.DecodeError as exc:
            logger.error("control topic %s: ignoring %r: %s", topic, value, exc)
            return None

    def fold(self, command: ModelCommand) -> bool:
        """Apply a verified rollout command; False (logged) if it does not fit the state."""
        assert command.ts is not None
        try:
            self.state = self.state.apply(command.action, command.arg, command.ts, command.evidence)
        except StreamrecError as exc:
            logger.error("control command %s %s of %s refused: %s",
                         command.action, command.arg, command.model, exc)  # fmt: skip
            return False
        return True


class ControlListener:
    """Reads the control topic: folds the rollout commands of ``model`` (``on_state`` once
    the topic has been read to its end at start), runs each live command with ``handler``,
    one at a time and in order."""

    def __init__(
        self,
        brokers: Brokers,
        topic: str,
        handler: Handler,
        auth: AdminAuth,
        rejected: Rejected = lambda reason: None,
        *,
        model: str = "",
        state: RolloutState | None = None,
        on_state: StateHandler | None = None,
    ) -> None:
        self.brokers = brokers
        self.topic = topic
        self.handler = handler
        self.auth = auth
        self.rejected = rejected
        self.on_state = on_state
        self._fold = _Fold(model, state or RolloutState(), auth)
        self.started_ms = int(time.time() * 1000)
        self._next: dict[TopicPartition, int] = {}
        """Next offset to read per partition: a reconnect neither skips nor repeats."""
        self._synced = False

    @property
    def state(self) -> RolloutState:
        return self._fold.state

    async def run(self) -> None:
        """Until cancelled; a broker problem is logged and retried, never fatal."""
        while True:
            consumer = AIOKafkaConsumer(
                **self.brokers.client_kwargs(), group_id=None, enable_auto_commit=False
            )
            try:
                await consumer.start()
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("control topic %s: %s; retrying in 5 s", self.topic, exc)
                await asyncio.sleep(5.0)
            finally:
                await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await _assign(consumer, self.topic, self._next)
        # Each command is a batch of its own (sent one at a time), so "latest" is its end
        # offset also on the embedded broker (which answers the last batch's base + 1).
        ends = await consumer.end_offsets(partitions)
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    await self._handle(record.value, record.timestamp)
                    self._next[tp] = record.offset + 1
            if not self._synced and all(await _positions_reached(consumer, ends)):
                self._synced = True
                logger.info("control topic %s read: rollout state %s", self.topic, self.state)
                if self.on_state is not None:
                    await self.on_state(self.state)

    async def _handle(self, value: bytes | None, timestamp: int) -> None:
        fold = self._fold
        command = fold.decode(value, self.topic)
        if command is None:
            return
        live = timestamp >= self.started_ms
        if not live and command.action not in ROLLOUT_ACTIONS:
            return  # a one-shot command for the workers of its time
        denied = self.auth.verify(
            command.content(), command.ts, command.sig, time.time(), check_age=live
        )
        if denied is not None:
            logger.warning("control topic %s: ignoring %s of %s: %s", self.topic,
                           command.action, command.model, denied.message)  # fmt: skip
            self.rejected(denied.reason)
            return
        if command.model != fold.model:
            if live:
                logger.info("control topic: %s is not served here (%s is)", command.model,
                            fold.model)  # fmt: skip
            return
        if command.action in ROLLOUT_ACTIONS and not fold.fold(command):
            return
        if not live:
            return
        logger.info("control topic: %s %s %s", command.action, command.model, command.arg)
        if not self._synced and command.action != "rollback":
            return  # the state so far is handed over once the topic is read (on_state)
        try:
            await self.handler(command, self.state)
        except StreamrecError as exc:
            logger.error("control command %s of %s refused: %s", command.action,
                         command.model, exc)  # fmt: skip


async def _assign(
    consumer: AIOKafkaConsumer, topic: str, resume: dict[TopicPartition, int]
) -> list[TopicPartition]:
    """Every partition of ``topic``, each from where this listener left off (or its start)."""
    await consumer.topics()  # metadata
    partitions = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if not partitions:
        raise StreamrecError(f"the control topic {topic} has no partitions (not created yet?)")
    consumer.assign(partitions)
    for tp in partitions:
        if tp in resume:
            consumer.seek(tp, resume[tp])
        else:
            await consumer.seek_to_beginning(tp)
    return partitions


async def _positions_reached(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
) -> list[bool]:
    return [await consumer.position(tp) >= end for tp, end in ends.items()]


async def read_rollout_state(
    brokers: Brokers, topic: str, model: str, auth: AdminAuth, initial: RolloutState
) -> RolloutState:
    """The rollout state of ``model`` as the workers derive it: the topic read to its end."""
    consumer = AIOKafkaConsumer(**brokers.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    fold = _Fold(model, initial, auth)
    try:
        try:
            partitions = await _assign(consumer, topic, {})
        except StreamrecError:
            return initial  # no control topic yet: no command was ever sent
        ends = await consumer.end_offsets(partitions)
        while not all(await _positions_reached(consumer, ends)):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    command = fold.decode(record.value, topic)
                    if (
                        command is not None
                        and command.model == model
                        and command.action in ROLLOUT_ACTIONS
                        and auth.verify(command.content(), command.ts, command.sig, 0.0,
                                        check_age=False) is None
                    ):  # fmt: skip
                        fold.fold(command)
    finally:
        await consumer.stop()
    return fold.state


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
