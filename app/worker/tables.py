"""The worker's two tables (raw UTF-8 user ids as keys) and the sampling of their sizes."""

from __future__ import annotations

from typing import NamedTuple, cast

import faust

from app.features.state import UserFeatureState
from app.metrics import AppMetrics
from app.settings import Settings
from app.worker.codecs import StructCodec
from app.worker.faust_compat import estimated_keys, raw_key_table
from app.worker.user_states import FeaturesTable, StatesFromUpdates, TappedTable

__all__ = ["WorkerTables", "create_tables"]


class WorkerTables(NamedTuple):
    """Per-user state the worker keeps (RocksDB + changelog)."""

    features: faust.Table[str, UserFeatureState]
    latest: faust.Table[str, bytes]

    def sample_keys(self, metrics: AppMetrics) -> None:
        """``streamrec_table_keys``: how many users each table holds on this worker."""
        for table in self:
            metrics.table_keys.labels(table.name).set(estimated_keys(table))


def create_tables(app: faust.App, settings: Settings) -> WorkerTables:
    """The features table (the model's input) and the latest-update table."""
    codec = StructCodec(UserFeatureState)
    features = cast(FeaturesTable, raw_key_table(
        app, "features", settings.partitions, codec,
        "Per-user feature state (the model's input).", settings.store_options,
        table_type=FeaturesTable,
    ))  # fmt: skip
    features.codec = codec
    # Restored from the recommendations topic itself (Kafka Streams reuses a source topic
    # so): the update already goes there, so a changelog of its own would repeat it. The
    # users' states in its headers go to the features table (``user_states``).
    latest = cast(TappedTable, raw_key_table(
        app, "latest", settings.partitions, "raw",
        "Each user's latest recommendation update (the output JSON).",
        settings.store_options, changelog=settings.output_topic, table_type=TappedTable,
    ))  # fmt: skip
    latest.tap = StatesFromUpdates(features, codec)
    return WorkerTables(features=features, latest=latest)
