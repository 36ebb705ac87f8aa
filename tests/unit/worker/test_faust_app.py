"""The Faust app's settings, chosen from streamrec's."""

from __future__ import annotations

import pytest

from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.settings import Settings
from app.worker.faust_app import create_faust_app
from app.worker.shutdown import Shutdown


@pytest.mark.parametrize(("compression", "faust_takes"), [("lz4", "lz4"), ("none", None)])
def test_faust_compresses_the_changelogs_as_streamrecs_own_producer_does(
    compression: str, faust_takes: str | None
) -> None:
    settings = Settings(compression=compression)  # type: ignore[arg-type]
    app = create_faust_app(
        settings, Brokers.from_settings(settings), KeyPartitioner(settings.key_partitioner),
        Shutdown(1.0),
    )  # fmt: skip
    assert app.conf.producer_compression_type == faust_takes
    assert app.producer._settings_default()["compression_type"] == faust_takes
