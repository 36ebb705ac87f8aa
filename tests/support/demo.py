"""``faust -A app demo`` as a user runs it: in its own process group (a terminal's foreground
job, which Ctrl-C signals as a whole), in a directory of its own, on free ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.worker.preflight import is_reachable
from devtools.net import free_port
from tests.support.paths import ROOT
from tests.support.waiting import wait_for

__all__ = ["DemoRun", "Process"]

Process = tuple[int, str]
"""(pid, start time in clock ticks): a pid the kernel gave to another process since is not
the same process."""


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command name (which may hold spaces): state, ppid, ...
    return text[text.rindex(")") + 2 :].split()


class DemoRun:
    """A running demo: its output so far, its children, and a signal to its process group."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.kafka_port, self.web_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMREC_")}
        self.env = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "STREAMREC_BROKER": f"kafka://127.0.0.1:{self.kafka_port}",
            "STREAMREC_WEB_PORT": str(self.web_port),
        }
        self.cwd = cwd
        cwd.mkdir(parents=True, exist_ok=True)
        self.seen: set[Process] = set()
        self.out = cwd / "demo.out"
        faust = Path(sys.executable).with_name("faust")
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [str(faust), "-A", "app", "demo", *args], cwd=cwd, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 180.0) -> None:
        """Until ``text`` is printed; fails with the output if the demo exits or time is up."""
        printed = wait_for(
            lambda: text in self.output() or self.process.poll() is not None, timeout
        )
        assert printed and text in self.output(), self.output()

    def export_line(self, name: str) -> str:
        """The value of the ``export NAME=value`` line the demo printed."""
        found = re.search(rf"export {name}=(\S+)", self.output())
        assert found, self.output()
        return found.group(1)

    def children(self) -> list[Process]:
        """The processes the demo started (its children, from /proc)."""
        found = []
        for entry in Path("/proc").iterdir():
            fields = _stat(int(entry.name)) if entry.name.isdigit() else None
            if fields and int(fields[1]) == self.process.pid:
                found.append((int(entry.name), fields[19]))
        self.seen.update(found)
        return found

    def command_line(self, process: Process) -> str:
        try:
            raw = Path(f"/proc/{process[0]}/cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace")

    @staticmethod
    def alive(process: Process) -> bool:
        fields = _stat(process[0])
        return fields is not None and fields[19] == process[1] and fields[0] != "Z"

    def interrupt(self, sig: int = signal.SIGINT) -> float:
        """``sig`` to the demo's process group, as a terminal's Ctrl-C; the seconds until
        the demo exited (at most 60: then it is killed and the test fails)."""
        signalled = time.monotonic()
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return time.monotonic() - signalled

    def ports_in_use(self) -> list[int]:
        return [p for p in (self.kafka_port, self.web_port) if is_reachable("127.0.0.1", p)]

    def kill_everything(self) -> None:
        """After a test: nothing it started may outlive it, whatever the demo did."""
        self.children()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for process in self.seen:
            if self.alive(process):
                os.kill(process[0], signal.SIGKILL)
