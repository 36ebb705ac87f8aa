"""The Faust app's settings, chosen from streamrec's."""

from __future__ import annotations

import pytest

from app.http.tls import web_tls
from app.kafka.brokers import Brokers
from app.kafka.partitioners import KeyPartitioner
from app.settings import Settings
from app.worker.faust_app import create_faust_app
from app.worker.shutdown import Shutdown


@pytest.mark.parametrize("compression", ["lz4", "none"])
def test_faust_compresses_the_changelogs_with_zstd_whatever_the_outputs_use(
    compression: str,
) -> None:
    settings = Settings(compression=compression)  # type: ignore[arg-type]
    app = create_faust_app(
        settings, Brokers.from_settings(settings), KeyPartitioner(settings.key_partitioner),
        Shutdown(1.0), web_tls(settings),
    )  # fmt: skip
    assert app.conf.producer_compression_type == "zstd"
    assert app.producer._settings_default()["compression_type"] == "zstd"
