"""Child processes for local runs and tests: a real ``faust -A app worker`` subprocess."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from devtools.net import http_get

__all__ = ["PROJECT_ROOT", "WorkerProcess"]


PROJECT_ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """``faust -A app worker`` with its own environment (``STREAMREC_*``) and log file."""

    def __init__(
        self, env: dict[str, str], log: Path, cwd: Path | None = None, app_module: str = "app"
    ) -> None:
        self.env = {**os.environ, **env}
        self.app_module = app_module
        self.log = log
        self.cwd = cwd or PROJECT_ROOT
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def web_url(self) -> str:
        host = self.env.get("STREAMREC_WEB_HOST", "127.0.0.1")
        scheme = "https" if self.env.get("STREAMREC_WEB_TLS_CERTFILE") else "http"
        return f"{scheme}://{host}:{self.env.get('STREAMREC_WEB_PORT', '6066')}"

    @property
    def tls(self) -> ssl.SSLContext | None:
        """What to reach an https worker with: its WEB_TLS_CAFILE trusted."""
        if not self.env.get("STREAMREC_WEB_TLS_CERTFILE"):
            return None
        return ssl.create_default_context(cafile=self.env.get("STREAMREC_WEB_TLS_CAFILE"))

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        faust_bin = Path(sys.executable).with_name("faust")
        self.process = subprocess.Popen(
            [str(faust_bin), "-A", self.app_module, "worker", "-l", "info"],
            cwd=self.cwd,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Own session: a terminal Ctrl-C reaches only the parent, which stops children
            # in order (worker first, while the broker is still there to commit to).
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def is_ready(self) -> bool:
        """One look at /health/ready: True on 200."""
        return http_get(self.web_url + "/health/ready", timeout=2, context=self.tls)[0] == 200

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Poll /health/ready until 200; raise with the log's tail if it never comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited early:\n{self.tail()}")
            if self.is_ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Stop the worker (SIGTERM: clean shutdown; SIGKILL: a crash) and return its code."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def kill(self) -> None:
        """SIGKILL now, no clean stop (``stop`` still reaps it and closes the log)."""
        if self.alive() and self.process is not None:
            self.process.kill()
