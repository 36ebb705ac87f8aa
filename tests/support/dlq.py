"""Running ``faust -A app dlq`` as an operator does, against a deployment under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools.net import free_port
from devtools.processes import PROJECT_ROOT
from tests.support.deployment import Deployment

__all__ = ["run_dlq"]


def run_dlq(d: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """``faust -A app dlq ARGS`` with the deployment's settings (its security included)."""
    env = {**os.environ, **d.env(99, free_port())}
    faust = Path(sys.executable).with_name("faust")
    return subprocess.run(
        [str(faust), "-A", "app", "dlq", *args], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
