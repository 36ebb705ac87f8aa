"""Where batch results go: one small protocol, a delivery loop, and the sinks."""

from app.sinks.base import Sink, deliver
from app.sinks.redis_store import RedisLatestSink
from app.sinks.topics import (
    TopicSink,
    by_item,
    dead_letters,
    moved,
    moved_timestamps,
    outputs,
    shadows,
)

__all__ = [
    "RedisLatestSink",
    "Sink",
    "TopicSink",
    "by_item",
    "dead_letters",
    "deliver",
    "moved",
    "moved_timestamps",
    "outputs",
    "shadows",
]
