"""Traffic arms on the stream: the main model, a sticky canary share of users, a shadow.

A micro-batch takes one ``Arms`` snapshot, so a swap, a reload or a rollout change lands
between batches and never splits one. Which arm scores a user depends only on the user id
and the canary version (a keyed hash, the same in every process), never on a worker or the
time. The canary and the main version follow the deployment's ``RolloutState`` (the
control topic's rollout commands; STREAMREC_CANARY until the first one).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry

from app.errors import StreamrecError
from app.inference.manifest import read_manifest
from app.inference.registry import ModelRegistry
from app.inference.scorer import OnnxScorer
from app.inference.serving import ServedModel
from app.metrics import AppMetrics
from app.pipeline.variants import CANARY, MAIN, SHADOW, Arms
from app.rollout.decide import ArmEvidence
from app.rollout.state import RolloutState

__all__ = ["Rollout", "arm_counters", "live_figures"]

logger = logging.getLogger(__name__)


class Rollout:
    """The served arms of one model and what keeps them current.

    The main arm is ``main`` (newest version, or the pinned one); canary and shadow are
    pinned versions of the same model. A candidate that does not load leaves its users on
    the main model: logged, counted, shown on /models/, retried at each poll.
    """

    def __init__(
        self,
        main: ServedModel,
        registry: ModelRegistry,
        metrics: AppMetrics,
        *,
        canary: tuple[str, float] | None = None,
        shadow: str | None = None,
        threads: int = 1,
        auto: bool = False,
    ) -> None:
        self.main = main
        self.registry = registry
        self.metrics = metrics
        self.threads = threads
        self.canary_percent = canary[1] if canary else 0.0
        self.state = RolloutState(*canary) if canary else RolloutState()
        """The rollout commands' decisions so far (``apply`` keeps the arms to it)."""
        self.synced = asyncio.Event()
        """Set once the control topic's rollout state has been read (``apply``)."""
        self._lock = asyncio.Lock()
        self.auto = auto
        """Automatic rollout: new versions reach main through a canary only, never the poll."""
        self.candidates: dict[str, ServedModel] = {}
        for variant, version in ((CANARY, canary[0] if canary else None), (SHADOW, shadow)):
            if version is not None:
                self.candidates[variant] = ServedModel(
                    registry, main.name, metrics, version=version, threads=threads,
                    variant=variant,
                )  # fmt: skip
                metrics.init_variant(variant)
        self.load_errors: dict[str, str] = {}
        """Why a configured candidate arm is not serving (variant -> error)."""

    def arms(self) -> Arms:
        """This moment's scorers (the main one must be loaded)."""
        main = self.main.current
        assert main is not None, "the agent loads the main model before its first batch"
        canary, shadow = self.candidates.get(CANARY), self.candidates.get(SHADOW)
        return Arms(
            main,
            canary.current if canary else None,
            self.canary_percent,
            shadow.current if shadow else None,
        )

    async def load_candidates(self) -> None:
        """Load the canary and shadow versions that are not serving yet."""
        for variant, served in self.candidates.items():
            if served.ready:
                continue
            try:
                await served.load()
            except StreamrecError as exc:
                self.load_errors[variant] = str(exc)
                logger.error("%s arm %s/%s is not serving (%s users get the main model): %s",
                             variant, served.name, served.version,
                             "its" if variant == CANARY else "no", exc)  # fmt: skip
            else:
                self.load_errors.pop(variant, None)

    def wanted_main(self) -> str | None:
        """The version the main arm should serve: the pinned one, else the rollout state's
        choice among the registry's versions (None: the registry cannot say)."""
        if self.main.version is not None:
            return self.main.version
        try:
            return self.state.main_version(self.registry.versions(self.main.name))
        except StreamrecError:
            return None

    async def reload_main(self) -> OnnxScorer:
        """Serve the version the main arm should serve (the newest that is neither the canary
        nor refused, unless one is promoted or pinned) again now, even if tried before."""
        wanted = self.wanted_main()
        return await (self.main.serve(wanted) if wanted else self.main.reload())

    async def load_main(self, wait_s: float) -> None:
        """The first load of the main arm, once the control topic's rollout state is known
        (a restarted worker must not serve a version the deployment has moved past), or
        after ``wait_s`` with the state it has."""
        try:
            await asyncio.wait_for(self.synced.wait(), wait_s)
        except TimeoutError:
            logger.warning("rollout state not read from the control topic within %.0f s: "
                           "starting with %s", wait_s, self.state)  # fmt: skip
        skip = {*self.state.refused, *([self.state.canary] if self.state.canary else [])}
        await self.main.load(first=self.wanted_main(), skip=skip)

    async def apply(self, state: RolloutState, *, reload: bool = False) -> None:
        """Bring the arms to ``state``: the canary (loaded before it takes traffic; one that
        does not load leaves its users on the main model) and the main version. ``reload``
        serves the wanted main version again even if it is the current one."""
        async with self._lock:
            self.state = state
            serving = self.main.current is not None
            # Before the first load, load_main and load_candidates follow the state.
            await self._set_canary(state.canary, state.percent, load=serving)
            wanted = self.wanted_main()
            current = self.main.current
            if current is not None and wanted is not None and (reload or wanted != current.version):
                try:
                    await self.main.serve(wanted)
                except StreamrecError as exc:
                    logger.error("cannot serve %s/%s as main, %s keeps serving: %s",
                                 self.main.name, wanted, current.version, exc)  # fmt: skip
            self.synced.set()

    async def _set_canary(self, version: str | None, percent: float, *, load: bool) -> None:
        """Point the canary arm at ``version`` with ``percent`` of users. A new version is
        loaded first (``load``), then the arm and its share change together (no await
        between: a batch sees both or neither); one that does not load leaves its users on
        the main model."""
        current = self.candidates.get(CANARY)
        if current is not None and current.version == version:
            self.canary_percent = percent
            return
        fresh, error = None, ""
        if version is not None:
            self.metrics.init_variant(CANARY)
            fresh = ServedModel(self.registry, self.main.name, self.metrics, version=version,
                                threads=self.threads, variant=CANARY)  # fmt: skip
            if load:
                try:
                    await fresh.load()
                except StreamrecError as exc:
                    error = str(exc)
                    logger.error("canary %s/%s is not serving (its users get the main "
                                 "model): %s", self.main.name, version, exc)  # fmt: skip
        old = self.candidates.pop(CANARY, None)
        if fresh is not None:
            self.candidates[CANARY] = fresh
        self.canary_percent = percent if fresh is not None else 0.0
        self.load_errors.pop(CANARY, None)
        if error:
            self.load_errors[CANARY] = error
        if old is not None:
            old.retire()
        arm = f"version {version} for {percent:g}% of users" if version else "none"
        logger.info("canary of %s: %s", self.main.name, arm)

    async def poll(self) -> None:
        """Hot-reload the version the main arm should serve if this worker never tried it
        (a new newest version, unless it is the canary or refused); retry candidates.

        Each version is tried once: a rolled-back or refused version is not loaded again by
        the poll (POST reload or the control topic still can).
        """
        main = self.main
        if main.current is None:
            return  # the agent is still loading its first model, and then the candidates
        async with self._lock:
            await self.load_candidates()
            if main.version is not None or self.auto:
                return  # pinned, or the automatic rollout canaries new versions
            wanted = self.wanted_main()
            if wanted is None or wanted in main.attempted:
                return
            try:
                await main.serve(wanted)
            except StreamrecError as exc:
                logger.error("new version %s/%s refused, %s/%s keeps serving: %s",
                             main.name, wanted, main.name, main.current.version, exc)  # fmt: skip

    def report(
        self,
        samples: CollectorRegistry,
        output_topic: str,
        shadow_topic: str,
        controller: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The /models/ body: versions with their offline metrics, the arms side by side
        with their traffic share and this worker's live figures (from ``samples``), and the
        automatic rollout controller's latest look (``controller``)."""
        arms = []
        main = self.main.current
        canary = self.candidates.get(CANARY)
        canary_on = canary is not None and canary.ready
        for variant, served in ((MAIN, self.main), *self.candidates.items()):
            share = 100.0 - self.canary_percent if canary_on else 100.0
            if variant == CANARY:
                share = self.canary_percent if canary_on else 0.0
            elif variant == SHADOW:
                share = 0.0
            arm: dict[str, Any] = {
                "variant": variant,
                "version": served.current.version if served.current else served.version,
                "serving": served.ready,
                "traffic_percent": share,
                "output_topic": shadow_topic if variant == SHADOW else output_topic,
                "live": live_figures(samples, variant),
            }
            if variant in self.load_errors:
                arm["error"] = self.load_errors[variant]
            arms.append(arm)
        served_total = sum(a["live"]["updates"] for a in arms if a["variant"] != SHADOW)
        for arm in arms:
            if arm["variant"] != SHADOW and served_total:
                arm["live"]["observed_percent"] = 100 * arm["live"]["updates"] / served_total
        versions = []
        for version in self.registry.versions(self.main.name):
            entry: dict[str, Any] = {"version": version}
            try:
                manifest = read_manifest(self.registry.root / self.main.name / version)
                entry["metrics"] = manifest.metrics
            except StreamrecError as exc:
                entry["error"] = str(exc)
            versions.append(entry)
        return {
            "name": self.main.name,
            "pinned": self.main.version,
            "versions": versions,
            "arms": arms,
            "rollout": {
                **self.state.show(),
                "controller": controller,
            },
            "serving": main.manifest if main else None,
        }


def arm_counters(samples: CollectorRegistry, variant: str) -> ArmEvidence:
    """One arm's counters on this worker since it started."""

    def value(name: str) -> float:
        return samples.get_sample_value(f"streamrec_{name}", {"variant": variant}) or 0.0

    return ArmEvidence(
        events=int(value("prequential_events_total")), hits=int(value("prequential_hits_total")),
        updates=int(value("variant_updates_total")), errors=int(value("variant_errors_total")),
        calls=int(value("variant_inference_seconds_count")),
        call_seconds=value("variant_inference_seconds_sum"),
    )  # fmt: skip


def live_figures(samples: CollectorRegistry, variant: str) -> dict[str, Any]:
    """One arm's updates, errors, mean model-call time and prequential HR@K on this worker."""
    arm = arm_counters(samples, variant)
    return {
        "updates": arm.updates,
        "errors": arm.errors,
        "model_calls": arm.calls,
        "mean_model_call_ms": 1000 * arm.call_seconds / arm.calls if arm.calls else None,
        "prequential_events": arm.events,
        "prequential_hr": arm.hits / arm.events if arm.events else None,
    }
