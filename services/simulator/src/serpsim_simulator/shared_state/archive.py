"""The search archive in Redis (`/searches/{id}.json`): any worker answers a search another one made.

As `search.archive.MemoryArchive`, the newest `capacity` responses are kept; each also expires
after `ttl_s`. An index (a sorted set of ids by time) bounds the count: a put past the capacity
drops the oldest ids and their responses. Redis unreachable: `StoreUnavailable`, which the
search service turns into a skipped put or a 503 on a get.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from .client import SharedRedis


class RedisArchive:
    def __init__(self, shared: SharedRedis, capacity: int, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError("the archive needs a capacity of at least 1")
        self.shared = shared
        self.capacity = capacity
        self.ttl_s = ttl_s
        self.clock = clock
        self.index = shared.key("archive", "index")

    def _key(self, search_id: str) -> str:
        return self.shared.key("archive", "search", search_id)

    async def put(self, search_id: str, response: dict[str, Any]) -> None:
        now = self.clock()
        ttl_ms = max(1, int(self.ttl_s * 1000))
        value = orjson.dumps(response)

        async def store(r: Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.set(self._key(search_id), value, px=ttl_ms)
                pipe.zadd(self.index, {search_id: now})
                pipe.zremrangebyscore(self.index, "-inf", now - self.ttl_s)  # their responses have expired
                pipe.pexpire(self.index, ttl_ms)
                pipe.zcard(self.index)
                *_, count = await pipe.execute()
            if count > self.capacity:
                # ZPOPMIN is atomic: concurrent puts each drop different ids.
                dropped = await r.zpopmin(self.index, count - self.capacity)
                if dropped:
                    await r.delete(*(self._key(member.decode()) for member, _ in dropped))

        await self.shared.call("archive.put", store)

    async def get(self, search_id: str) -> dict[str, Any] | None:
        raw = await self.shared.call("archive.get", lambda r: r.get(self._key(search_id)))
        return None if raw is None else orjson.loads(raw)

    async def count(self) -> int:
        """Searches kept now."""
        return int(await self.shared.call("archive.count", lambda r: r.zcard(self.index)))
