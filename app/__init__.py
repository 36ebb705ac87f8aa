"""streamrec: real-time recommendations on Kafka.

``faust -A app worker`` reads ``app.app``: the worker's Faust app, built from the environment
the first time it is read (``app.main.load_app``). Importing ``app`` or any of its modules
builds nothing and patches nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import faust

    app: faust.App

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    from app.main import load_app

    built = load_app()
    globals()["app"] = built
    return built
