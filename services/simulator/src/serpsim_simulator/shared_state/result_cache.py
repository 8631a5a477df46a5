"""The result cache in the shared Redis, degrading to a miss when Redis cannot answer.

The same keys and values as `cache.RedisCache` (`serpsim:result:<digest>` with the default
prefix), so entries written before stay readable; what it adds is the outage behaviour: a
failed read is a miss, a failed write is skipped, both counted and logged by `SharedRedis`,
never an error on the request. Satisfies `cache.ResultCache`.
"""

from __future__ import annotations

from ..cache import CachedResult
from .client import SharedRedis, SharedStateUnavailable


class SharedResultCache:
    def __init__(self, shared: SharedRedis, ttl_s: float) -> None:
        self.shared = shared
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def _key(self, key: str) -> str:
        return self.shared.key("result", key)

    async def get(self, key: str) -> CachedResult | None:
        try:
            raw = await self.shared.call("cache.get", lambda r: r.get(self._key(key)))
        except SharedStateUnavailable:
            return None
        return None if raw is None else CachedResult.loads(raw)

    async def put(self, key: str, value: CachedResult) -> None:
        try:
            await self.shared.call("cache.put", lambda r: r.set(self._key(key), value.dumps(), px=self.ttl_ms))
        except SharedStateUnavailable:
            return

    async def aclose(self) -> None:
        """Nothing: the client belongs to the `SharedRedis`, closed by whoever built it."""
