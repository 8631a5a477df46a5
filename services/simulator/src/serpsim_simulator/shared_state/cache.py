"""The result cache in Redis (`search.cache.ResultCache`), a miss when Redis cannot answer.

Keys `{prefix}:result:<digest>` (with the default prefix, what the cache wrote before shared state
existed, so entries stay readable); entries expire by TTL, and the size bound is Redis's own
`maxmemory` with an LRU policy, which shared deployments set on the server. A failed read is a
miss and a failed write is skipped, both counted and logged by `SharedRedis`, never an error on
the request.
"""

from __future__ import annotations

from ..errors import StoreUnavailable
from ..search.cache import CachedResult
from .client import SharedRedis


class RedisCache:
    def __init__(self, shared: SharedRedis, ttl_s: float) -> None:
        self.shared = shared
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def _key(self, key: str) -> str:
        return self.shared.key("result", key)

    async def get(self, key: str) -> CachedResult | None:
        try:
            raw = await self.shared.call("cache.get", lambda r: r.get(self._key(key)))
        except StoreUnavailable:
            return None
        return None if raw is None else CachedResult.loads(raw)

    async def put(self, key: str, value: CachedResult) -> None:
        try:
            await self.shared.call("cache.put", lambda r: r.set(self._key(key), value.dumps(), px=self.ttl_ms))
        except StoreUnavailable:
            return

    async def aclose(self) -> None:
        """Nothing: the client belongs to the `SharedRedis`, closed by whoever built it."""
