"""A worker's rollout tasks: the model poll, the control topic's listener and, with
AUTO_ROLLOUT, the evidence reporter and controller (``app.rollout.auto``)."""

from __future__ import annotations

import logging

import faust
from prometheus_client import CollectorRegistry

from app.kafka.brokers import Brokers
from app.kafka.topics import ensure_topic_or_say
from app.metrics import AppMetrics
from app.rollout.admin import AdminAuth
from app.rollout.arms import Rollout
from app.rollout.auto import AutoRollout
from app.rollout.control import ControlListener, ModelCommand
from app.rollout.state import RolloutState
from app.settings import Settings

__all__ = ["add_rollout_tasks"]

logger = logging.getLogger(__name__)

FOREVER_MS = -1  # the control topic's rollout commands are the deployment's rollout state
DAY_MS = 24 * 3600 * 1000


def add_rollout_tasks(
    app: faust.App,
    settings: Settings,
    brokers: Brokers,
    rollout: Rollout,
    samples: CollectorRegistry,
    metrics: AppMetrics,
    auth: AdminAuth,
) -> AutoRollout | None:
    """Keep ``rollout`` current on ``app``; the automatic rollout when it is on."""
    if settings.model_poll_s > 0:

        async def poll_models() -> None:
            await rollout.poll()

        app.timer(settings.model_poll_s, name="streamrec.model_poll")(poll_models)
    _listen_for_commands(app, settings, brokers, rollout, metrics, auth)
    if not settings.auto_rollout:
        return None
    auto = AutoRollout(app, settings, brokers, rollout, samples, auth)

    async def read_rollout_evidence() -> None:
        await ensure_topic_or_say(brokers, settings.evidence_topic, DAY_MS)
        await auto.read_evidence()

    async def automatic_rollout() -> None:
        try:
            await auto.report()
            await auto.control()
        except Exception as exc:  # a broker hiccup: the next look tries again
            logger.error("automatic rollout: %s", exc)

    app.task(read_rollout_evidence)
    app.timer(settings.auto_check_s, name="streamrec.auto_rollout")(automatic_rollout)
    return auto


def _listen_for_commands(
    app: faust.App,
    settings: Settings,
    brokers: Brokers,
    rollout: Rollout,
    metrics: AppMetrics,
    auth: AdminAuth,
) -> None:
    """The control topic's model commands (reload, rollback, canary ...) for this worker."""
    model = rollout.main

    async def on_command(command: ModelCommand, state: RolloutState) -> None:
        if command.action == "rollback":
            await model.rollback()
        else:  # reload (serve the wanted main version again) or a rollout change
            await rollout.apply(state, reload=command.action == "reload")

    control = ControlListener(
        brokers, settings.control_topic, on_command, auth,
        rejected=lambda reason: metrics.admin_denied.labels("control", reason).inc(),
        model=model.name, state=rollout.state, on_state=rollout.apply,
    )  # fmt: skip

    async def listen_for_model_commands() -> None:
        await ensure_topic_or_say(brokers, settings.control_topic, FOREVER_MS)
        await control.run()

    app.task(listen_for_model_commands)
