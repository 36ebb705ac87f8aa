"""Building a worker changes Faust for its app only: that app's consumer, fetch wait and table
recovery are streamrec's, while Faust's classes and modules stay as imported, so no other app
in the process (nor any later test) runs with the changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
from faust.tables import manager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as driver

from app.main import build
from app.settings import Settings
from app.worker.faust_compat import TunedApp
from app.worker.faust_compat.consumer import TunedConsumer
from app.worker.faust_compat.recovery import SeekBeforeResumeRecovery

MODELS = Path(__file__).resolve().parents[4] / "models"
# Everything a process-wide patch would have to change to reach every app's consumer.
PATCHABLE = (
    driver, manager, driver.Transport, driver.Consumer, driver.AIOKafkaConsumerThread,
    manager.TableManager, Recovery, faust.App,
)  # fmt: skip


def faust_state() -> list[dict[str, Any]]:
    return [dict(vars(target)) for target in PATCHABLE]


async def test_building_a_worker_changes_faust_for_its_app_only(tmp_path: Path) -> None:
    before = faust_state()
    settings = Settings(store="memory://", data_dir=tmp_path, model_dir=MODELS,
                        fetch_max_wait_ms=25)  # fmt: skip
    worker = build(settings).app
    other_worker = TunedApp("other-worker", fetch_max_wait_ms=40, autodiscover=False)
    plain = faust.App("plain", autodiscover=False)

    assert isinstance(worker.consumer, TunedConsumer)
    assert isinstance(worker.tables.recovery, SeekBeforeResumeRecovery)
    for app, wait in ((worker, 25), (other_worker, 40)):
        aiokafka_consumer = app.consumer._thread._create_worker_consumer(app.transport)
        assert aiokafka_consumer._fetch_max_wait_ms == wait  # each app its own (change 1)
        await aiokafka_consumer.stop()

    assert type(plain.consumer) is driver.Consumer
    assert type(plain.tables.recovery) is Recovery
    for app in (worker, other_worker, plain):
        app.consumer._thread.thread_loop.close()  # made with the consumer; never started
    assert driver.Transport.Consumer is driver.Consumer
    assert manager.Recovery is Recovery
    assert faust_state() == before
