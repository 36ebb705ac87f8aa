"""A private Redis server that a test may stop and start again."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from devtools.net import free_port
from tests.support.waiting import wait_for

__all__ = ["RedisServer"]


class RedisServer:
    """A private ``redis-server`` (the machine's binary) that a test may stop and start again.

    The shared Redis on 127.0.0.1:6379 serves the other tests; this one can fail on purpose.
    """

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server not found: `make test` installs it (Debian redis-server)"
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=(self.root / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert wait_for(self._answers, 10), "private redis-server did not start"
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False
