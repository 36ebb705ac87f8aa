"""Every setting, grouped by scope, read once from the environment (prefix ``STREAMREC_``).

One module per scope (``kafka``, ``kafka_security``, ``topics``, ``pipeline``, ``model``,
``retrieval``, ``rollout``, ``control``, ``cache``, ``sinks``, ``trending``, ``store``, ``web``,
``lifecycle``); ``load`` combines them into ``Settings``, whose attributes stay flat
(``settings.max_batch``). Settings import no domain module: the domain builds its objects
from them (``Brokers.from_settings``, ``KeyPartitioner(settings.key_partitioner)``).
"""

from app.settings.base import ENV_PREFIX, Scope
from app.settings.kafka_security import Protocol, SaslMechanism
from app.settings.load import Settings, get_settings, load_settings
from app.settings.rollout import parse_canary
from app.settings.topics import PartitionerName

__all__ = [
    "ENV_PREFIX",
    "PartitionerName",
    "Protocol",
    "SaslMechanism",
    "Scope",
    "Settings",
    "get_settings",
    "load_settings",
    "parse_canary",
]
