"""The demo's admin token: random, made once per directory, in a file only its owner reads.

A worker without a token refuses every admin command, so a demo without one could not try
``faust -A app models --reload`` or ``--canary``. The demo gives its worker this file as
STREAMREC_ADMIN_TOKEN_FILE and prints the ``export`` line for another terminal: the token
itself is never printed, and nothing outside the demo has a default token. Kept across runs,
so a pasted line stays good and commands already on an external broker's control topic still
verify.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["TOKEN_FILE", "demo_admin_token"]

TOKEN_FILE = Path("var/demo-admin-token")


def demo_admin_token(path: Path = TOKEN_FILE) -> Path:
    """The absolute path of the token file, created (owner-only) with a random token if it is
    missing or empty."""
    path = path.absolute()
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created owner-only, never readable by others even for an instant.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    os.chmod(path, 0o600)  # an older file with looser permissions gets tightened
    return path
