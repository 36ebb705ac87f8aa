"""Faust web pages that answer at both spellings of their path (with and without a final /).

Users, load balancers and probes type either; Faust (aiohttp) matches paths exactly, so
``/health/ready/`` was a 404 while ``/recommendations/{user}`` was one the other way round.
"""

from __future__ import annotations

from collections.abc import Callable

import faust
from faust.web import View

__all__ = ["page"]


def page(app: faust.App, path: str) -> Callable[[type[View]], type[View]]:
    """Like ``@app.page(path)``, and the same view also answers at the other spelling."""

    def register(view_cls: type[View]) -> type[View]:
        registered: type[View] = app.page(path)(view_cls)
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        app.web.route(other, app.web.views[path], None)
        return registered

    return register
