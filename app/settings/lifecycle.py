"""A worker's health and shutdown: when it counts as stuck, how long it takes to stop."""

from __future__ import annotations

from pydantic import Field

from app.settings.base import Scope

__all__ = ["LifecycleSettings"]


class LifecycleSettings(Scope):
    """The liveness deadline and the shutdown budget."""

    stall_timeout_s: float = Field(default=60.0, gt=0)
    """/health/live turns 503 once one micro-batch has been in progress this long (stuck)."""

    shutdown_timeout_s: float = Field(default=20.0, ge=2.0, le=600.0)
    """After SIGTERM, the longest a worker takes to exit: the batches in progress (one scored,
    one delivered) get half of it to finish (else they are abandoned, not committed), then it
    commits and leaves the group;
    past it, it exits with code 1. Below Kubernetes' default 30 s grace period."""
