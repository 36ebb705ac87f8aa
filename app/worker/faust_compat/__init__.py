"""Every use of Faust and aiokafka internals, in one place, for the apps that ask for them.

Nothing here changes Faust for the whole process: a ``TunedApp`` (tuned_app.py) carries the
changes for itself, through the hooks Faust offers per app, and checks the versions first.
Eight changes to Faust's Kafka consumer and table recovery, each explained where it lives:
consumer_thread.py 1, 2, 4, 5 (the thread owning the aiokafka consumer); recovery.py 3 (the
app's ``TableManager`` setting); consumer.py 6, 7, 8 (Faust's consumer, made by the app's
transport). bulk.py: the input topic's records to the agent as lists, and table access for
them (faust#300); tables.py: tables with streamrec's serializers (raw keys);
table_stats.py: RocksDB key estimates; versions.py: the versions these were written for.
"""

from app.worker.faust_compat.bulk import BulkInput, bulk_inputs_of, current_message
from app.worker.faust_compat.table_stats import estimated_keys
from app.worker.faust_compat.tables import (
    check_source_partitions,
    raw_key_table,
    registered_table,
    tables_recovered,
)
from app.worker.faust_compat.tuned_app import TunedApp
from app.worker.faust_compat.versions import PATCHED_FOR, check_versions

__all__ = [
    "PATCHED_FOR", "BulkInput", "TunedApp", "bulk_inputs_of", "check_source_partitions",
    "check_versions",
    "current_message", "estimated_keys", "raw_key_table", "registered_table", "tables_recovered",
]  # fmt: skip
