"""A serving store in Redis: each user's latest update, for app servers to read.

One hash per user, ``<prefix><user id>`` with fields ``update`` (the JSON update, as on the
recommendations topic) and ``pos`` (the input offset it answers). A batch is written in one
pipeline round trip; a small Lua script keeps the newest: an update for an older or the same
position (a replay after a crash or a rebalance) leaves the stored one alone. App servers
read ``HGET <prefix><user id> update``.
"""

from __future__ import annotations

import redis.asyncio as redis

from app.pipeline.result import BatchResult

__all__ = ["RedisLatestSink"]


# KEYS[1] = the user's key; ARGV = update, position, TTL in ms (0: none). 1 if written.
_NEWEST_WINS = """
local pos = redis.call('HGET', KEYS[1], 'pos')
if pos and tonumber(pos) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'update', ARGV[1], 'pos', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""


class RedisLatestSink:
    """Writes ``BatchResult.latest`` to Redis, newest event wins."""

    name = "redis"

    def __init__(
        self, url: str, *, prefix: str, ttl_s: float, timeout_s: float, required: bool
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.required = required
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script = self._client.register_script(_NEWEST_WINS)

    def key(self, user_id: str) -> str:
        return self.prefix + user_id

    async def start(self) -> None:
        """Connections are opened on first use: an unreachable Redis must not stop a start."""

    async def stop(self) -> None:
        await self._client.aclose()

    async def write(self, result: BatchResult) -> int:
        if not result.latest:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for update in result.latest:
            await self._script(
                keys=[self.key(update.user_id)],
                args=[update.value, update.offset, self.ttl_ms],
                client=pipe,
            )
        await pipe.execute()
        return len(result.latest)
