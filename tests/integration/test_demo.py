"""``faust -A app demo`` (``make run``): Ctrl-C or SIGTERM at any moment stops everything it
started within STOP_BOUND_S, freeing its ports; admin commands reach its worker with the
token it prints."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec

from devtools.demo import STOP_BOUND_S
from devtools.net import http_get, metric_value
from tests.support.demo import DemoRun
from tests.support.waiting import wait_for

REPLAYED = "replay finished; the worker keeps serving until Ctrl-C."


def assert_stops_everything(demo: DemoRun, sig: int, moment: str) -> None:
    """``sig`` now: the demo exits 0 within the bound, its broker and worker are gone (not
    re-parented to PID 1) and its ports are free."""
    children = demo.children()
    started = [demo.command_line(c) for c in children]
    assert len(started) == 2, started
    assert any("-A app worker" in c for c in started), started
    assert any(" broker --listener-url" in c for c in started), started
    took = demo.interrupt(sig)
    left = [demo.command_line(c) for c in children if demo.alive(c)]
    print(f"{signal.Signals(sig).name} {moment}: the demo exited {demo.process.returncode} "
          f"after {took:.1f} s; left running: {left}; ports in use: "
          f"{demo.ports_in_use()}")  # fmt: skip
    assert demo.process.returncode == 0 and took <= STOP_BOUND_S, demo.output()
    assert left == [] and demo.ports_in_use() == [], demo.output()
    assert demo.output().rstrip().endswith("stopped."), demo.output()


def models(demo: DemoRun, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``faust -A app models *args`` from another terminal, with the demo's settings."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("faust")), "-A", "app", "models", *args],
        cwd=demo.cwd, env={**demo.env, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def last_command_ts(demo: DemoRun) -> float | None:
    status, body = http_get(demo.web_url + "/models/")
    return msgspec.json.decode(body)["rollout"]["last_command_ts"] if status == 200 else None


def test_ctrl_c_while_serving_stops_everything_and_admin_commands_work_meanwhile(
    demo_factory: Callable[..., DemoRun],
) -> None:
    demo = demo_factory("--count", "50", "--rate", "0")
    demo.wait_for_output(REPLAYED)

    # Another terminal, without the token: told what to set; then with the printed line.
    refused = models(demo, "--reload")
    assert refused.returncode == 2 and "STREAMREC_ADMIN_TOKEN" in refused.stderr
    token_file = demo.export_line("STREAMREC_ADMIN_TOKEN_FILE")
    assert Path(token_file).read_text().strip() not in demo.output()  # never printed
    sent = models(demo, "--reload", STREAMREC_ADMIN_TOKEN_FILE=token_file)
    assert sent.returncode == 0 and "sent reload" in sent.stdout, sent.stderr
    assert wait_for(lambda: last_command_ts(demo) is not None, 30), demo.output()
    assert metric_value(demo.web_url, "streamrec_admin_denied_total") == 0

    assert_stops_everything(demo, signal.SIGINT, "while serving")


def test_sigterm_while_serving_stops_everything(demo_factory: Callable[..., DemoRun]) -> None:
    demo = demo_factory("--count", "50", "--rate", "0")
    demo.wait_for_output(REPLAYED)
    assert_stops_everything(demo, signal.SIGTERM, "while serving")


def test_ctrl_c_during_the_replay_stops_everything(demo_factory: Callable[..., DemoRun]) -> None:
    demo = demo_factory("--count", "20000", "--rate", "50")
    demo.wait_for_output("replaying MovieLens-100k")
    assert wait_for(lambda: metric_value(demo.web_url, "streamrec_events_in_total") >= 20, 60), (
        demo.output()
    )
    assert REPLAYED not in demo.output()
    assert_stops_everything(demo, signal.SIGINT, "during the replay")


def test_ctrl_c_during_start_up_stops_everything(demo_factory: Callable[..., DemoRun]) -> None:
    demo = demo_factory("--count", "50")
    demo.wait_for_output("starting a worker")
    assert "worker ready" not in demo.output()
    assert_stops_everything(demo, signal.SIGINT, "during start-up")
