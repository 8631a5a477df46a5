"""Every shared store on one Redis client, built once in the app's lifespan."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..backends.settings import SerpApiBackendSettings
from ..metrics import Metrics
from ..settings import Settings
from .accounts import RedisAccountStore
from .archive import RedisArchive
from .cache import RedisCache
from .client import SharedRedis
from .spend import RedisSpendCap

logger = logging.getLogger(__name__)


@dataclass
class SharedState:
    redis: SharedRedis
    accounts: RedisAccountStore
    archive: RedisArchive
    cache: RedisCache

    def spend_cap(self, backend: SerpApiBackendSettings) -> RedisSpendCap:
        return RedisSpendCap(self.redis, backend.name, backend.searches_per_hour, backend.searches_per_month)

    async def aclose(self) -> None:
        await self.redis.aclose()


async def open_shared_state(settings: Settings, metrics: Metrics) -> SharedState:
    """The stores on `shared_state.redis_url`. Redis down at start-up is not fatal (a worker that
    fails its start-up stops every worker): the service starts degraded and says so."""
    s = settings.shared_state

    def count(op: str) -> None:
        metrics.shared_state_errors.labels(op).inc()

    redis = SharedRedis(s, on_unavailable=count)
    state = SharedState(
        redis=redis,
        accounts=RedisAccountStore(redis, s.usage_ttl_s),
        archive=RedisArchive(redis, settings.search_store_size, s.archive_ttl_s),
        cache=RedisCache(redis, settings.cache.ttl_s),
    )
    if await redis.ping():
        logger.info("shared state: Redis at %s (cache, limits, usage, archive, spend cap; limits on outage: %s)",
                    redis.url, s.limits_on_outage)
    else:
        logger.error("shared state: Redis at %s does not answer; starting degraded (limits on outage: %s)",
                     redis.url, s.limits_on_outage)
    return state
