"""Usage, the search archive, the result cache and the spend cap in Redis, one process."""

from __future__ import annotations

import asyncio
import calendar

import pytest
import redis.asyncio as aioredis
from serpsim_simulator.cache import CachedResult, RedisCache
from serpsim_simulator.documents import Document
from serpsim_simulator.errors import InvalidParameter, RateLimited
from serpsim_simulator.shared_state.archive import SharedSearchArchive
from serpsim_simulator.shared_state.client import SharedRedis
from serpsim_simulator.shared_state.result_cache import SharedResultCache
from serpsim_simulator.shared_state.settings import SharedStateSettings, shared_redis_url
from serpsim_simulator.shared_state.spend import SpendCap
from serpsim_simulator.shared_state.usage import SharedUsage, month_of

from ..redis_server import RedisServer
from .conftest import state_settings

NOV_15 = calendar.timegm((2026, 11, 15, 12, 0, 0))


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def assert_all_keys_expire(shared: SharedRedis) -> None:
    keys = await shared.client.keys(shared.key("*"))
    assert keys
    for key in keys:
        assert await shared.client.pttl(key) > 0, key


async def test_usage_per_identity_and_in_total(shared: SharedRedis) -> None:
    usage = SharedUsage(shared, clock=Clock(NOV_15))
    await usage.record("key:a", searches=2, prompt_tokens=100, completion_tokens=40, engine_seconds=0.5)
    await usage.record("key:a", searches=1, cache_hits=1)
    await usage.record("key:b", searches=5, prompt_tokens=10, completion_tokens=4, engine_seconds=0.25)
    await usage.record(None, searches=1, prompt_tokens=7, completion_tokens=3, engine_seconds=0.125)
    a, b, total = await usage.read("key:a"), await usage.read("key:b"), await usage.read(None)
    assert a is not None and b is not None and total is not None
    assert (a.this_month.searches, a.this_month.cache_hits, a.this_month.prompt_tokens) == (3, 1, 100)
    assert (a.this_month.completion_tokens, a.this_month.engine_seconds, a.last_hour_searches) == (40, 0.5, 3)
    assert (b.this_month.searches, b.this_month.prompt_tokens, b.this_month.engine_seconds) == (5, 10, 0.25)
    assert (total.this_month.searches, total.this_month.cache_hits, total.this_month.prompt_tokens) == (9, 1, 117)
    assert (total.this_month.completion_tokens, total.this_month.engine_seconds) == (47, 0.875)
    assert total.last_hour_searches == 9
    unknown = await usage.read("key:never")
    assert unknown is not None and unknown.this_month.searches == 0
    await assert_all_keys_expire(shared)


async def test_last_hour_slides_and_months_roll_over(shared: SharedRedis) -> None:
    clock = Clock(NOV_15)
    usage = SharedUsage(shared, clock=clock)
    await usage.record("key:a", searches=4)
    clock.t += 30 * 60
    await usage.record("key:a", searches=2)
    report = await usage.read("key:a")
    assert report is not None and report.last_hour_searches == 6
    clock.t += 31 * 60  # the first minute is over an hour ago
    report = await usage.read("key:a")
    assert report is not None and (report.last_hour_searches, report.this_month.searches) == (2, 6)
    clock.t = calendar.timegm((2026, 12, 1, 0, 0, 1))
    await usage.record("key:a", searches=1)
    report = await usage.read("key:a")
    assert report is not None and report.this_month.searches == 1  # December's own count
    minutes = shared.key("usage", "minutes", "id:key:a")
    assert len(await shared.client.hkeys(minutes)) == 1  # old minutes are dropped as new ones come


def test_month_boundaries() -> None:
    assert month_of(NOV_15) == ("2026-11", calendar.timegm((2026, 12, 1, 0, 0, 0)))
    assert month_of(calendar.timegm((2026, 12, 31, 23, 59, 59))) == ("2026-12", calendar.timegm((2027, 1, 1, 0, 0, 0)))


async def test_archive_keeps_the_newest_within_capacity(shared: SharedRedis) -> None:
    clock = Clock(NOV_15)
    archive = SharedSearchArchive(shared, capacity=5, ttl_s=600, clock=clock)
    for n in range(8):
        clock.t += 1
        assert await archive.put(f"id{n}", {"search_metadata": {"id": f"id{n}"}, "n": n})
    assert await archive.count() == 5
    assert [await archive.get(f"id{n}") is None for n in range(8)] == [True] * 3 + [False] * 5
    assert await archive.get("id7") == {"search_metadata": {"id": "id7"}, "n": 7}
    assert len(await shared.client.keys(shared.key("archive", "search", "*"))) == 5  # dropped ids' responses too
    await assert_all_keys_expire(shared)


async def test_archived_searches_expire(shared: SharedRedis) -> None:
    archive = SharedSearchArchive(shared, capacity=10, ttl_s=0.2)
    await archive.put("soon-gone", {"n": 1})
    assert await archive.get("soon-gone") == {"n": 1}
    await asyncio.sleep(0.3)
    assert await archive.get("soon-gone") is None


async def test_result_cache_reads_what_the_redis_cache_wrote(redis_server: RedisServer) -> None:
    """The same keys as `cache.RedisCache`: switching a deployment over keeps its cached searches."""
    shared = SharedRedis(state_settings(redis_server.url, key_prefix="serpsim"))
    try:
        old = RedisCache(redis_server.url, ttl_s=60, client=aioredis.from_url(redis_server.url))
        value = CachedResult([Document("T", "snippet")], 10, 20, 1)
        await old.put("digest-1", value)
        await old.aclose()
        cache = SharedResultCache(shared, ttl_s=0.2)
        assert await cache.get("digest-1") == value
        await cache.put("digest-2", value)
        assert await cache.get("digest-2") == value
        await asyncio.sleep(0.3)
        assert await cache.get("digest-2") is None
        assert await cache.get("never") is None
    finally:
        await shared.client.delete(shared.key("result", "digest-1"))
        await shared.aclose()


async def test_spend_cap_per_hour(shared: SharedRedis) -> None:
    clock = Clock(NOV_15)
    cap = SpendCap(shared, "serpapi", per_hour=10, per_month=0, clock=clock, wall_clock=clock)
    await cap.acquire(4)
    clock.t += 60
    await cap.acquire(6)
    with pytest.raises(RateLimited, match="10 searches per hour") as refused:
        await cap.acquire(1)
    assert refused.value.headers == {"Retry-After": str(3600 - 60)}  # when the first 4 leave
    spent = await cap.spent()
    assert spent is not None and (spent.last_hour, spent.this_month) == (10, 10)
    clock.t += 3600 - 60
    await cap.acquire(4)
    with pytest.raises(RateLimited):
        await cap.acquire(1)
    with pytest.raises(InvalidParameter):
        await cap.acquire(11)
    await assert_all_keys_expire(shared)


async def test_spend_cap_per_month_resets_with_the_month(shared: SharedRedis) -> None:
    clock = Clock(calendar.timegm((2026, 11, 30, 23, 0, 0)))
    cap = SpendCap(shared, "serpapi", per_hour=0, per_month=3, wall_clock=clock)
    for _ in range(3):
        await cap.acquire()
    with pytest.raises(RateLimited, match="3 searches per month") as refused:
        await cap.acquire()
    assert refused.value.headers == {"Retry-After": "3600"}  # December starts in an hour
    clock.t += 3600
    await cap.acquire()
    spent = await cap.spent()
    assert spent is not None and spent.this_month == 1


def test_one_redis_url_for_all_shared_state() -> None:
    assert shared_redis_url(None, "redis://cache:6379/0") == "redis://cache:6379/0"  # today's setting keeps working
    assert shared_redis_url("redis://r:6379/0", None) == "redis://r:6379/0"
    assert shared_redis_url("redis://r:6379/0", "redis://r:6379/0") == "redis://r:6379/0"
    assert shared_redis_url(None, None) is None
    with pytest.raises(ValueError, match="different servers"):
        shared_redis_url("redis://a:6379/0", "redis://b:6379/0")
    with pytest.raises(ValueError, match="needs a Redis URL"):
        SharedRedis(SharedStateSettings())
