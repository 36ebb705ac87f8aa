"""Every use of Faust and aiokafka internals, in one place, applied by the app factory.

consumer.py: seven changes to Faust's Kafka consumer and table recovery (each explained there);
current_event.py: table access inside take_events batches; tables.py: raw-key tables;
table_stats.py: RocksDB key estimates; versions.py: the versions these were written for.
"""

from app.faust_compat.current_event import BatchEvents, as_current_event
from app.faust_compat.install import install_patches
from app.faust_compat.table_stats import estimated_keys
from app.faust_compat.tables import raw_key_table, tables_recovered
from app.faust_compat.versions import PATCHED_FOR, check_versions

__all__ = [
    "PATCHED_FOR", "BatchEvents", "as_current_event", "check_versions", "estimated_keys",
    "install_patches", "raw_key_table", "tables_recovered",
]  # fmt: skip
