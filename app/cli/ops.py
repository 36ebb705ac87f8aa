"""Operator commands: ``models`` (versions, their offline figures, the served arms, and
rollout commands for every worker)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Literal

import click
from faust.cli import AppCommand, option

from app.cli.base import CommandSet
from app.errors import StreamrecError
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.http.tls import WebTls

__all__ = ["COMMANDS", "NO_TOKEN_HINT", "models"]

COMMANDS = CommandSet()

# The command is signed here, so the fix is a setting here (the HTTP hint, a header, is not).
NO_TOKEN_HINT = (
    "no admin token here: set STREAMREC_ADMIN_TOKEN (or STREAMREC_ADMIN_TOKEN_FILE) to the "
    "workers' admin token, which signs the command; for `faust -A app demo`, paste the "
    "export line it prints"
)


@COMMANDS.command(
    option("--reload", "action", flag_value="reload",
           help="Tell every worker (control topic) to serve the newest version (ends a "
           "promotion)."),
    option("--rollback", "action", flag_value="rollback",
           help="Tell every worker to go back to the version it served before."),
    option("--canary", default="", metavar="VERSION:PERCENT",
           help="Start or change the canary on every worker, e.g. 3:10 (no restart)."),
    option("--promote", "action", flag_value="promote",
           help="Make the canary the main version on every worker (the canary ends)."),
    option("--abort", "action", flag_value="abort",
           help="End the canary on every worker and refuse its version."),
    option("--url", default="", help="A worker to read the served arms from "
           "(default: http://WEB_HOST:WEB_PORT; https with WEB_TLS_CERTFILE)."),
)  # fmt: skip
async def models(
    self: AppCommand,
    action: Literal["reload", "rollback", "promote", "abort"] | None,
    canary: str,
    url: str,
) -> None:
    """streamrec model versions with offline metrics and the arms a running worker serves;
    with an option, a command for every worker (signed with STREAMREC_ADMIN_TOKEN).

    Replaces Faust's own ``models`` (a list of faust.Record types, which streamrec has none of).
    """
    s = get_settings()
    if canary and action:
        raise click.UsageError("--canary goes alone, not with --" + action)
    if canary or action:
        await _send(self, s, "canary" if canary else action or "", canary)
    else:
        from app.http.tls import web_tls

        tls = web_tls(s)
        arms, served = await _served_arms(s, tls, url or tls.url(s.web_host, s.web_port))
        _list_versions(self, s, arms, served)


async def _send(self: AppCommand, s: Settings, wanted: str, canary: str) -> None:
    """Send one rollout command to every worker, refused here if the rollout state would
    refuse it (where the operator sees why, rather than by every worker)."""
    from app.kafka.brokers import Brokers
    from app.rollout.admin import AdminAuth
    from app.rollout.control import ModelCommand, read_rollout_state, send_command
    from app.rollout.state import RolloutState
    from app.settings import parse_canary

    auth = AdminAuth(s.admin_secret)
    if not auth.enabled:
        print(f"streamrec: cannot send {wanted}: {NO_TOKEN_HINT}", file=sys.stderr)
        raise SystemExit(2)
    initial = RolloutState(*s.canary_split) if s.canary_split else RolloutState()
    brokers = Brokers.from_settings(s)
    rollout = await read_rollout_state(brokers, s.control_topic, s.model_name, auth, initial)
    arg = ""
    try:
        if canary:
            parse_canary(canary)
            arg = canary
        elif wanted in ("promote", "abort"):
            arg = rollout.canary or ""
        if wanted in ("canary", "promote", "abort", "reload"):
            rollout.apply(wanted, arg, time.time() + 1.0)
    except StreamrecError as exc:
        print(f"streamrec: {wanted} not sent: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    command = ModelCommand(s.model_name, wanted, arg)  # type: ignore[arg-type]
    await send_command(brokers, s.control_topic, command, auth)
    self.say(f"sent {wanted} {arg} of {s.model_name} to every worker ({s.control_topic})")


async def _served_arms(s: Settings, tls: WebTls, url: str) -> tuple[dict[str, list[str]], str]:
    """Version -> the arms a worker at ``url`` serves it in (its certificate checked as the
    workers check each other's), and a line saying whence (the configured arms when no worker
    answers)."""
    import aiohttp
    import msgspec

    from app.inference.registry import ModelRegistry

    url = url.rstrip("/")
    arms: dict[str, list[str]] = {}
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=5), connector=tls.connector()
            ) as http,
            http.get(f"{url}/models/") as resp,
        ):
            report = msgspec.json.decode(await resp.read())
        for arm in report["arms"]:
            state = f"{arm['variant']} {arm['traffic_percent']:g}%"
            if not arm["serving"]:
                state += " (not loaded)"
            arms.setdefault(str(arm["version"]), []).append(state)
        served = f"arms served by {url}"
        if state_shown := report.get("rollout"):
            served += "; rollout state " + msgspec.json.encode(state_shown).decode()
    except (OSError, aiohttp.ClientError, KeyError, TypeError, msgspec.DecodeError) as exc:
        served = f"no worker answered at {url} ({type(exc).__name__}): arms as configured here"
        versions = ModelRegistry(s.model_dir).versions(s.model_name)
        main = s.model_version or (versions[-1] if versions else "-")
        arms.setdefault(main, []).append("main")
        if s.canary_split:
            arms.setdefault(s.canary_split[0], []).append(f"canary {s.canary_split[1]:g}%")
        if s.shadow:
            arms.setdefault(s.shadow, []).append("shadow")
    return arms, served


def _list_versions(self: AppCommand, s: Settings, arms: dict[str, list[str]], served: str) -> None:
    """One line per version: its test figures (on its own test set, named), algorithm and
    arms; under a retrained one, its figures and the serving version's on the same events."""
    from app.inference.manifest import read_manifest
    from app.inference.registry import ModelRegistry

    registry = ModelRegistry(s.model_dir)
    versions = registry.versions(s.model_name)
    self.say(f"{s.model_name} in {s.model_dir}: {len(versions)} version(s); {served}")
    self.say(f"{'version':>8}  {'test hr@10':>10}  {'ndcg@10':>8}  {'test set':<24}  "
             f"{'algorithm':<10}  arms")  # fmt: skip
    for version in versions:
        try:
            manifest = read_manifest(registry.root / s.model_name / version)
        except StreamrecError as exc:
            self.say(f"{version:>8}  unreadable: {exc}")
            continue
        test = manifest.metrics.get("test", {})
        hr, ndcg = test.get("hr@10"), test.get("ndcg@10")
        data = str(manifest.training.get("data", "?")).split(" (")[0]
        test_set = f"{data}, {test['users']} events" if "users" in test else data
        self.say(
            f"{version:>8}  {hr if hr is None else f'{hr:.4f}':>10}  "
            f"{ndcg if ndcg is None else f'{ndcg:.4f}':>8}  {test_set:<24}  "
            f"{manifest.training.get('algorithm', '?')!s:<10}  "
            f"{', '.join(arms.get(version, [])) or '-'}"
        )
        if line := _compared_line(version, manifest.metrics.get("compared")):
            self.say(line)


def _compared_line(version: str, compared: object) -> str | None:
    """``retrain``'s like-for-like record (``metrics.compared``) as one line, if any."""
    if not isinstance(compared, dict) or not compared.get("versions"):
        return None
    figures = "; ".join(
        f"{v} {m['hr@10']:.4f} / {m['ndcg@10']:.4f}" for v, m in compared["versions"].items()
    )
    return (f"{'':>8}  like for like on {version}'s {compared['events']} held-out events "
            f"(hr@10 / ndcg@10): {figures}")  # fmt: skip
