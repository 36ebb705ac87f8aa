"""The automatic rollout: workers report their arms' live figures, one controller decides.

Every worker, every AUTO_CHECK_S while a canary runs, publishes on the evidence topic (signed
like a control command) what its arms did since the canary's version started there: judged
events and hits (prequential HR@K), updates, model calls, errors and call time. The
controller is the worker that holds partition 0 of the input topic (the consumer group
makes that one worker, and moves it on a rebalance); it sums the latest report of every
worker, and through the control topic:

- adopts the serving version (so a version reaches main only through a canary),
- starts a canary at AUTO_CANARY_PERCENT when a version newer than main appears,
- promotes or aborts it when ``decide`` says so, the evidence in the command.

Its decisions come back to every worker, itself included, through the control topic, so it
acts on the state the deployment has, never on one of its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import faust
import msgspec
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from app.kafka.brokers import Brokers
from app.kafka.follow import follow_topic
from app.pipeline.variants import CANARY, MAIN
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout, arm_counters
from app.rollout.control import ModelCommand, send_command
from app.rollout.decide import ArmEvidence, DecisionConfig, Verdict, decide
from app.settings import Settings

__all__ = ["AutoRollout", "EvidenceReport"]

logger = logging.getLogger(__name__)

RESEND_AFTER_S = 30.0
"""A command the controller sent is not sent again before this, unless the state moved."""


class EvidenceReport(msgspec.Struct, frozen=True):
    """One worker's arms since the canary's version started there."""

    model: str
    worker: str
    """This worker process (a restarted worker reports anew: its counters start at 0)."""
    canary: str
    canary_since: float
    arms: dict[str, ArmEvidence]
    ts: float
    partitions: tuple[int, ...] = ()
    """The input partitions this worker held when it reported (the controller decides on the
    test only once the reports cover every partition)."""
    sig: str = ""

    def content(self) -> bytes:
        unsigned = msgspec.structs.replace(self, sig="")
        return msgspec.json.encode(unsigned, order="sorted")


class AutoRollout:
    """The reporter (every worker) and the controller (the one holding partition 0)."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        brokers: Brokers,
        rollout: Rollout,
        samples: CollectorRegistry,
        auth: AdminAuth,
    ) -> None:
        self.app = app
        self.settings = settings
        self.brokers = brokers
        self.rollout = rollout
        self.samples = samples
        self.auth = auth
        self.config = DecisionConfig(
            alpha=settings.auto_alpha, min_events=settings.auto_min_events,
            max_call_ratio=settings.auto_max_call_ratio,
        )  # fmt: skip
        self.worker = f"{settings.web_host}:{settings.web_port}:{uuid.uuid4().hex[:8]}"
        self._baseline: tuple[str, float, dict[str, ArmEvidence]] | None = None
        self._reports: dict[str, EvidenceReport] = {}
        self._sent: tuple[str, str, float] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.last: dict[str, Any] | None = None
        """The controller's latest look (for /models/), None on other workers."""

    # -- every worker -----------------------------------------------------------------------

    async def report(self) -> None:
        """Publish this worker's arms since the canary's version started (if one runs)."""
        state = self.rollout.state
        if state.canary is None or self.rollout.main.current is None:
            self._baseline = None
            return
        now = {arm: arm_counters(self.samples, arm) for arm in (MAIN, CANARY)}
        key = (state.canary, state.canary_since)
        if self._baseline is None or self._baseline[:2] != key:
            self._baseline = (*key, now)  # counts start here on this worker
            return
        base = self._baseline[2]
        arms = {arm: now[arm] - base[arm] for arm in now}
        ts = round(time.time(), 3)
        report = EvidenceReport(
            self.rollout.main.name, self.worker, *key, arms, ts, self._input_partitions()
        )
        signed = msgspec.structs.replace(report, sig=self.auth.sign(report.content(), ts))
        if self._producer is None:
            self._producer = AIOKafkaProducer(**self.brokers.client_kwargs(), acks="all")
            await self._producer.start()
        await self._producer.send_and_wait(
            self.settings.evidence_topic, msgspec.json.encode(signed), key=self.worker.encode()
        )

    async def read_evidence(self) -> None:
        """Keep every worker's latest report (all workers read: any may become controller)."""
        await follow_topic(self.brokers, self.settings.evidence_topic, self._take)

    def _take(self, value: bytes | None) -> None:
        try:
            report = msgspec.json.decode(value or b"", type=EvidenceReport)
        except msgspec.DecodeError:
            logger.warning("evidence topic: ignoring a malformed report")
            return
        if self.auth.verify(report.content(), report.ts, report.sig, time.time(),
                            check_age=False) is not None:  # fmt: skip
            logger.warning("evidence topic: ignoring a report not signed with the admin token")
            return
        if report.model == self.rollout.main.name:
            self._reports[report.worker] = report

    # -- the controller ----------------------------------------------------------------------

    def _input_partitions(self) -> tuple[int, ...]:
        topic = self.settings.input_topic
        return tuple(sorted(tp.partition for tp in self.app.consumer.assignment()
                            if tp.topic == topic))  # fmt: skip

    def is_controller(self) -> bool:
        return 0 in self._input_partitions()

    def evidence(self) -> tuple[ArmEvidence, ArmEvidence, int, tuple[int, ...]]:
        """Main and canary summed over the workers' latest reports on the current canary,
        how many workers that is, and the input partitions none of the reports covers."""
        state = self.rollout.state
        main, canary, workers = ArmEvidence(), ArmEvidence(), 0
        covered: set[int] = set()
        for r in self._reports.values():
            if (r.canary, r.canary_since) == (state.canary, state.canary_since):
                main += r.arms.get(MAIN, ArmEvidence())
                canary += r.arms.get(CANARY, ArmEvidence())
                workers += 1
                covered.update(r.partitions)
        # The topic's metadata, or the partitions streamrec creates it with until that is known.
        topic = self.settings.input_topic
        count = self.app.consumer.topic_partitions(topic) or self.settings.partitions
        return main, canary, workers, tuple(p for p in range(count) if p not in covered)

    async def control(self) -> None:
        """One look: adopt, start a canary, or decide on the running one."""
        if not self.is_controller() or self.rollout.main.current is None:
            self.last = None
            return
        state, served = self.rollout.state, self.rollout.main.current.version
        versions = self.rollout.registry.versions(self.rollout.main.name)
        if state.canary is None:
            if state.promoted is None:
                await self._send("adopt", served)
                return
            base = versions.index(state.promoted) if state.promoted in versions else -1
            newer = [v for v in versions[base + 1 :] if v not in state.refused]
            if newer:
                await self._send("canary", f"{newer[-1]}:{self.settings.auto_canary_percent:g}")
            self.last = {"status": "no canary", "versions_waiting": newer}
            return
        main, canary, workers, unreported = self.evidence()
        verdict = decide(main, canary, self.config, unreported)
        evidence = _evidence(main, canary, workers, verdict)
        self.last = {"status": verdict.action, "canary": state.canary, **evidence}
        if verdict.action != "collect":
            logger.info("automatic rollout: %s %s/%s: %s", verdict.action,
                        self.rollout.main.name, state.canary, verdict.reason)  # fmt: skip
            await self._send(verdict.action, state.canary, evidence)

    async def _send(self, action: str, arg: str, evidence: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        sent = self._sent
        if sent is not None and sent[:2] == (action, arg) and now - sent[2] < RESEND_AFTER_S:
            return  # on its way back through the control topic
        self._sent = (action, arg, now)
        command = ModelCommand(self.rollout.main.name, action, arg, evidence=evidence)  # type: ignore[arg-type]
        await send_command(self.brokers, self.settings.control_topic, command, self.auth)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


def _evidence(
    main: ArmEvidence, canary: ArmEvidence, workers: int, verdict: Verdict
) -> dict[str, Any]:
    def arm(e: ArmEvidence) -> dict[str, Any]:
        return {**msgspec.structs.asdict(e), "hit_rate": e.hit_rate}

    return {
        "arms": {MAIN: arm(main), CANARY: arm(canary)},
        "workers": workers,
        "test": "mSPRT on the difference of prequential HR@K",
        "statistic": verdict.statistic,
        "threshold": verdict.threshold,
        "difference": verdict.difference,
        "reason": verdict.reason,
    }
