"""The traffic arms one micro-batch scores with: main, a sticky canary share, a shadow.

Which arm scores a user depends only on the user id and the canary version (a keyed hash,
the same in every process), never on a worker or the time. ``app.rollout`` decides which
versions the arms serve; the batch core only reads a snapshot.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from app.inference.scorer import Scorer

__all__ = ["CANARY", "MAIN", "SHADOW", "Arms", "canary_bucket"]

MAIN, CANARY, SHADOW = "main", "canary", "shadow"


def canary_bucket(user_id: str, salt: str) -> float:
    """The user's place in [0, 100) for ``salt`` (the canary version): below the canary's
    percent means canary. A keyed BLAKE2b, as Python's ``hash()`` differs per process."""
    digest = hashlib.blake2b(
        user_id.encode(), digest_size=8, key=salt.encode()[:64], person=b"streamrec-canary"
    ).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


class Arms(NamedTuple):
    """The scorers one micro-batch uses, taken together."""

    main: Scorer
    canary: Scorer | None = None
    canary_percent: float = 0.0
    shadow: Scorer | None = None

    def variant_of(self, user_id: str) -> str:
        """``canary`` for the canary's share of users while it serves, else ``main``."""
        canary = self.canary
        if canary is not None and canary_bucket(user_id, canary.version) < self.canary_percent:
            return CANARY
        return MAIN

    def scorer(self, variant: str) -> Scorer:
        scorer = {MAIN: self.main, CANARY: self.canary, SHADOW: self.shadow}[variant]
        assert scorer is not None, f"no {variant} arm in this snapshot"
        return scorer
