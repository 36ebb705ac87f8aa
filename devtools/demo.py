"""``faust -A app demo`` (``make run``): the embedded broker if none answers, one worker,
MovieLens replayed into it, until Ctrl-C or SIGTERM.

Stopping is bounded at any moment (start-up, replay, serving): the replay's producer gets
REPLAY_STOP_S, the worker WORKER_STOP_S (its own clean stop: commit, leave the group; then
SIGKILL), the embedded broker BROKER_STOP_S; with the command worker's own teardown the whole
demo is gone within STOP_BOUND_S, and so is every process it started (``ChildProcesses``).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from app.settings import Settings
from app.worker.preflight import is_reachable
from devtools.broker import EmbeddedBroker
from devtools.children import ChildProcesses
from devtools.demo_token import demo_admin_token
from devtools.processes import WorkerProcess
from devtools.replay import replay_movielens

__all__ = ["STOP_BOUND_S", "run_demo"]

DAY_S = 86_400
REPLAY_STOP_S = 1.0
WORKER_STOP_S = 9.0  # an idle worker stops in 1-3 s; past this it is killed (memory broker)
BROKER_STOP_S = 2.0
STOP_BOUND_S = 15.0
"""Signal to exit: the three above, plus about 2 s for the command worker's teardown, plus
slack for a busy machine."""
READY_TIMEOUT_S = 120.0


async def run_demo(s: Settings, rate: float, count: int, say: Callable[[str], None]) -> None:
    """Run the demo until Ctrl-C or SIGTERM (then return), or until the worker exits (then
    SystemExit 1); every process it started is stopped before it returns."""
    children = ChildProcesses()
    task = asyncio.current_task()
    assert task is not None  # a command runs as a task of the command worker
    children.stop_on_signals(task, say)
    feeding: asyncio.Task[int] | None = None
    try:
        worker = _start_processes(s, children, say)
        await _ready(worker)
        say(_welcome(worker.web_url, rate, admin_line=_admin_line(s, worker)))
        feeding = asyncio.create_task(replay_movielens(s, rate=rate, count=count))
        await feeding
        say("replay finished; the worker keeps serving until Ctrl-C.")
        while worker.alive():  # noqa: ASYNC110  # a child process: no event to wait on
            await asyncio.sleep(0.5)
        say(f"the worker exited (code {worker.process and worker.process.returncode}); its "
            f"log: {worker.log}")  # fmt: skip
        raise SystemExit(1)
    except asyncio.CancelledError:
        if not children.stop_requested:
            raise
    finally:
        if feeding is not None and not feeding.done():
            feeding.cancel()
            await asyncio.wait([feeding], timeout=REPLAY_STOP_S)
        await asyncio.to_thread(children.stop_all)
        if children:
            say("stopped.")


def _start_processes(
    s: Settings, children: ChildProcesses, say: Callable[[str], None]
) -> WorkerProcess:
    """Start the broker (if none answers) and a worker, each tracked as soon as it exists."""
    if is_reachable(s.web_host, s.web_port):
        # Else that process would answer the readiness checks of a worker that cannot start.
        raise SystemExit(
            f"streamrec: something already listens on {s.web_host}:{s.web_port}, where the "
            "demo's worker would (an earlier demo?): stop it, or set STREAMREC_WEB_PORT"
        )
    host, _, port = s.bootstrap_servers[0].rpartition(":")
    env = {}
    if not is_reachable(host, int(port)):
        log = Path("var/broker.log")
        broker = children.add(EmbeddedBroker(host, int(port), log=log), BROKER_STOP_S)
        broker.start()
        # The embedded broker starts empty, so state left from an earlier run is meaningless.
        # Absolute: the worker runs in the checkout, which need not be this directory.
        data_dir = Path("var/demo-data").absolute()
        shutil.rmtree(data_dir, ignore_errors=True)
        env["STREAMREC_DATA_DIR"] = str(data_dir)
        say(f"started the embedded broker on {broker.url} (log: {log})")
    else:
        say(f"using the broker at {s.broker}")
    if s.admin_secret is None:
        env["STREAMREC_ADMIN_TOKEN_FILE"] = str(demo_admin_token())
    env.update(_trending_env(s))
    worker = children.add(WorkerProcess(env, log=Path("var/worker.log")), WORKER_STOP_S)
    say(f"starting a worker (log: {worker.log}) ...")
    return worker.start()


async def _ready(worker: WorkerProcess) -> None:
    """Wait for the worker's readiness without blocking the loop: a signal stops it at once."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    while not await asyncio.to_thread(worker.is_ready):
        if not worker.alive():
            raise SystemExit(f"the worker exited while starting; its log ends:\n{worker.tail()}")
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"the worker was not ready in {READY_TIMEOUT_S:.0f} s; its log "
                             f"ends:\n{worker.tail()}")  # fmt: skip
        await asyncio.sleep(0.2)


def _trending_env(s: Settings) -> dict[str, str]:
    """Trending on for the demo, unless set. The replay squeezes MovieLens' seven months into
    minutes (a day of event time passes in about a second): windows of a week by the day."""
    env = {}
    if "trending" not in s.model_fields_set:
        env["STREAMREC_TRENDING"] = "true"
    if not s.model_fields_set & {"trending_window_s", "trending_step_s",
                                 "trending_retention_s", "trending_grace_s"}:  # fmt: skip
        env.update(STREAMREC_TRENDING_WINDOW_S=str(7 * DAY_S), STREAMREC_TRENDING_STEP_S=str(DAY_S),
                   STREAMREC_TRENDING_RETENTION_S=str(28 * DAY_S),
                   STREAMREC_TRENDING_GRACE_S=str(2 * DAY_S))  # fmt: skip
    return env


def _admin_line(s: Settings, worker: WorkerProcess) -> str:
    """How another terminal signs admin commands for this worker (never the token itself)."""
    faust = Path(sys.executable).with_name("faust")
    if faust.is_relative_to(Path.cwd()):
        faust = faust.relative_to(Path.cwd())
    token_file = worker.env.get("STREAMREC_ADMIN_TOKEN_FILE")
    if s.admin_secret is not None or token_file is None:
        sign = "  (signed with your STREAMREC_ADMIN_TOKEN, set there too)\n"
    else:
        sign = f"  export STREAMREC_ADMIN_TOKEN_FILE={token_file}\n"
    same = "  (with this terminal's STREAMREC_* settings)\n" if s.model_fields_set else ""
    return (
        f"admin commands, from another terminal in {Path.cwd()}:\n{sign}{same}"
        f"  {faust} -A app models --reload   (or --canary VERSION:PERCENT, --promote, --abort)"
    )


def _welcome(url: str, rate: float, admin_line: str) -> str:
    return (
        f"worker ready. Look at:\n"
        f"  {url}/?user=259              the operator page (for people), user 259 looked up\n"
        f"  {url}/recommendations/259/   latest recommendations of user 259\n"
        f"  {url}/features/259/          that user's feature state\n"
        f"  {url}/metrics                Prometheus metrics\n"
        f"  {url}/trending/?n=5           what the replay's users watch most this week\n"
        f"{admin_line}\n"
        f"replaying MovieLens-100k at {rate:.0f} events/s; Ctrl-C stops everything "
        f"(within {STOP_BOUND_S:.0f} s)."
    )
