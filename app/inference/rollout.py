"""Traffic arms on the stream: the main model, a sticky canary share of users, a shadow.

A micro-batch takes one ``Arms`` snapshot, so a swap or a reload lands between batches and
never splits one. Which arm scores a user depends only on the user id and the canary
version (a keyed hash, the same in every process), never on a worker or the time.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry

from app.errors import StreamrecError
from app.inference.manifest import read_manifest
from app.inference.registry import ModelRegistry
from app.inference.scorer import OnnxScorer
from app.inference.serving import ServedModel
from app.metrics import AppMetrics

__all__ = ["CANARY", "MAIN", "SHADOW", "Arms", "Rollout", "canary_bucket", "live_figures"]

logger = logging.getLogger(__name__)

MAIN, CANARY, SHADOW = "main", "canary", "shadow"


def canary_bucket(user_id: str, salt: str) -> float:
    """The user's place in [0, 100) for ``salt`` (the canary version): below the canary's
    percent means canary. A keyed BLAKE2b, as Python's ``hash()`` differs per process."""
    digest = hashlib.blake2b(
        user_id.encode(), digest_size=8, key=salt.encode()[:64], person=b"streamrec-canary"
    ).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


class Arms(NamedTuple):
    """The scorers one micro-batch uses, taken together."""

    main: OnnxScorer
    canary: OnnxScorer | None = None
    canary_percent: float = 0.0
    shadow: OnnxScorer | None = None

    def variant_of(self, user_id: str) -> str:
        """``canary`` for the canary's share of users while it serves, else ``main``."""
        canary = self.canary
        if canary is not None and canary_bucket(user_id, canary.version) < self.canary_percent:
            return CANARY
        return MAIN

    def scorer(self, variant: str) -> OnnxScorer:
        scorer = {MAIN: self.main, CANARY: self.canary, SHADOW: self.shadow}[variant]
        assert scorer is not None, f"no {variant} arm in this snapshot"
        return scorer


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
    ) -> None:
        self.main = main
        self.registry = registry
        self.canary_percent = canary[1] if canary else 0.0
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

    async def poll(self) -> None:
        """Hot-reload a newest version this worker never tried; retry candidates.

        Each version is tried once: a rolled-back or refused version is not loaded again by
        the poll (POST reload or the control topic still can).
        """
        main = self.main
        if main.current is None:
            return  # the agent is still loading its first model, and then the candidates
        await self.load_candidates()
        if main.version is not None:
            return  # pinned
        try:
            newest = self.registry.newest(main.name)
        except StreamrecError:
            return
        if newest in main.attempted:
            return
        try:
            await main.reload()
        except StreamrecError as exc:
            logger.error("new version %s/%s refused, %s/%s keeps serving: %s",
                         main.name, newest, main.name, main.current.version, exc)  # fmt: skip

    def report(
        self, samples: CollectorRegistry, output_topic: str, shadow_topic: str
    ) -> dict[str, Any]:
        """The /models/ body: versions with their offline metrics, and the arms side by side
        with their traffic share and this worker's live figures (from ``samples``)."""
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
            "serving": main.manifest if main else None,
        }


def live_figures(samples: CollectorRegistry, variant: str) -> dict[str, Any]:
    """One arm's updates, errors, mean model-call time and prequential HR@K on this worker."""

    def value(name: str) -> float:
        return samples.get_sample_value(f"streamrec_{name}", {"variant": variant}) or 0.0

    events, calls = value("prequential_events_total"), value("variant_inference_seconds_count")
    return {
        "updates": int(value("variant_updates_total")),
        "errors": int(value("variant_errors_total")),
        "model_calls": int(calls),
        "mean_model_call_ms": 1000 * value("variant_inference_seconds_sum") / calls
        if calls
        else None,
        "prequential_events": int(events),
        "prequential_hr": value("prequential_hits_total") / events if events else None,
    }
