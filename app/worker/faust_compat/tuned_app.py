"""The Faust app that carries streamrec's consumer and recovery changes, for itself only.

Nothing here changes Faust for the process: the table recovery comes through Faust's
``TableManager`` app setting, the consumer through this app's own transport.
"""

from __future__ import annotations

from typing import Any

import faust

from app.worker.faust_compat.consumer import TunedTransport
from app.worker.faust_compat.recovery import SeekBeforeResumeTableManager
from app.worker.faust_compat.versions import check_versions

__all__ = ["TunedApp"]


class TunedApp(faust.App):  # type: ignore[misc]
    """``faust.App`` with the eight consumer changes and its own fetch wait (change 1).

    Checks the installed versions first (CannotStart if they are not the patched ones).
    """

    def __init__(self, id: str, *, fetch_max_wait_ms: int, **options: Any) -> None:
        check_versions()
        self._fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(id, TableManager=SeekBeforeResumeTableManager, **options)

    def _new_transport(self) -> TunedTransport:
        # Faust has no app setting for the consumer class (``Consumer=`` is ignored): the
        # consumer is made by the class attribute ``Consumer`` of the transport built here,
        # whose class the broker URL's scheme picks (kafka:// and aiokafka:// alike: aiokafka's).
        # This factory is the one place an app can choose its own.
        return TunedTransport(
            self.conf.broker_consumer, self, fetch_max_wait_ms=self._fetch_max_wait_ms
        )
