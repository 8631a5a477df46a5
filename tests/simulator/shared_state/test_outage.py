"""Redis killed or hung: every component answers as configured, counts it, logs it once; then resumes."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from serpsim_simulator.cache import CachedResult
from serpsim_simulator.documents import Document
from serpsim_simulator.errors import Overloaded
from serpsim_simulator.shared_state.archive import SharedSearchArchive
from serpsim_simulator.shared_state.client import SharedRedis, redacted_url
from serpsim_simulator.shared_state.limits import LIMITS_UNAVAILABLE, SharedRateLimiter
from serpsim_simulator.shared_state.result_cache import SharedResultCache
from serpsim_simulator.shared_state.spend import SpendCap
from serpsim_simulator.shared_state.usage import SharedUsage

from ..redis_server import RedisServer
from .conftest import state_settings

VALUE = CachedResult([Document("T", "snippet")], 1, 2, 1)


async def test_killed_redis_every_component_degrades_as_configured_then_resumes(own_redis: RedisServer) -> None:
    hooked: list[str] = []
    shared = SharedRedis(state_settings(own_redis.url, retry_interval_s=0.1), on_unavailable=hooked.append)
    closed = SharedRateLimiter(shared, per_second=100, burst=100, per_hour=1000)
    opened = SharedRateLimiter(shared, per_second=100, burst=100, per_hour=1000, on_outage="open")
    usage = SharedUsage(shared)
    archive = SharedSearchArchive(shared, capacity=10, ttl_s=60)
    cache = SharedResultCache(shared, ttl_s=60)
    cap = SpendCap(shared, "serpapi", per_hour=100, per_month=1000)
    open_cap = SpendCap(shared, "serpapi", per_hour=100, per_month=1000, on_outage="open")
    try:
        await closed.acquire("key:a")
        assert await usage.record("key:a", searches=1)
        await cache.put("k", VALUE)
        assert await shared.ping()

        own_redis.kill()
        with pytest.raises(Overloaded) as refused:
            await closed.acquire("key:a")
        assert (refused.value.status, refused.value.message) == (503, LIMITS_UNAVAILABLE)
        assert refused.value.headers == {"Retry-After": "1"}
        await opened.acquire("key:a")  # let through, never silently: counted below
        assert await usage.record("key:a", searches=1) is False
        assert await usage.read("key:a") is None
        assert await archive.put("id", {"n": 1}) is False
        assert await archive.get("id") is None
        assert await cache.get("k") is None
        await cache.put("k2", VALUE)
        with pytest.raises(Overloaded):
            await cap.acquire()
        await open_cap.acquire()
        assert await shared.ping() is False
        expected = {
            "limits.acquire": 2, "usage.record": 1, "usage.read": 1, "archive.put": 1, "archive.get": 1,
            "cache.get": 1, "cache.put": 1, "spend.acquire": 2, "ping": 1,
        }
        assert dict(shared.unavailable) == expected
        assert sorted(hooked) == sorted(op for op, n in expected.items() for _ in range(n))

        own_redis.start()  # empty: no persistence
        await asyncio.sleep(0.15)
        await closed.acquire("key:a")
        assert await usage.record("key:a", searches=2)
        report = await usage.read("key:a")
        assert report is not None and report.this_month.searches == 2
        assert await archive.put("id", {"n": 1}) and await archive.get("id") == {"n": 1}
        await cache.put("k", VALUE)
        assert await cache.get("k") == VALUE
        await cap.acquire()
        assert sum(shared.unavailable.values()) == sum(expected.values())  # nothing degraded since
    finally:
        await shared.aclose()


async def test_a_hung_redis_costs_one_timeout_then_answers_at_once(own_redis: RedisServer) -> None:
    """SIGSTOP: connections open, nothing answers. Without timeouts a request would hang; with
    them the first call waits `timeout_s`, the next ones are refused at once until the retry interval."""
    shared = SharedRedis(state_settings(own_redis.url, timeout_s=0.3, retry_interval_s=0.5))
    limiter = SharedRateLimiter(shared, per_second=100, burst=100, per_hour=0)
    try:
        await limiter.acquire("key:a")
        own_redis.pause()
        started = time.monotonic()
        with pytest.raises(Overloaded):
            await limiter.acquire("key:a")
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(Overloaded):
                await limiter.acquire("key:a")
        rest = time.monotonic() - started
        assert 0.25 < first < 2.0
        assert rest < first  # twenty refusals together take less than the one that waited
        own_redis.resume()
        await asyncio.sleep(0.55)
        await limiter.acquire("key:a")
        assert shared.unavailable["limits.acquire"] == 21
    finally:
        own_redis.resume()
        await shared.aclose()


async def test_an_outage_is_logged_once_per_interval_and_its_end_once(own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    shared = SharedRedis(state_settings(own_redis.url, retry_interval_s=0.0, error_log_interval_s=60))
    usage = SharedUsage(shared)
    try:
        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="serpsim_simulator.shared_state.client"):
            for _ in range(25):
                await usage.record("key:a", searches=1)
            own_redis.start()
            for _ in range(5):
                await usage.record("key:a", searches=1)
            own_redis.kill()
            await usage.record("key:a", searches=1)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        recoveries = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(errors) == 2  # the first outage once (25 failures), the second as soon as it starts
        assert "1 operations degraded since the last report" in errors[0].getMessage()
        assert "25 operations degraded since the last report" in errors[1].getMessage()  # 24 unreported + 1
        assert len(recoveries) == 1 and "answers again (25 operations degraded" in recoveries[0].getMessage()
        assert shared.unavailable["usage.record"] == 26
    finally:
        await shared.aclose()


async def test_load_beyond_the_pool_waits_for_a_connection_instead_of_failing(own_redis: RedisServer) -> None:
    """More concurrent calls than connections is load, not an outage: none may be degraded."""
    shared = SharedRedis(state_settings(own_redis.url, max_connections=4))
    usage = SharedUsage(shared)
    try:
        assert all(await asyncio.gather(*(usage.record("key:a", searches=1) for _ in range(200))))
        report = await usage.read("key:a")
        assert report is not None and report.this_month.searches == 200
        assert not shared.unavailable
        assert len(await shared.client.client_list()) <= 4
    finally:
        await shared.aclose()


def test_passwords_stay_out_of_logs() -> None:
    assert redacted_url("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redacted_url("redis://user:s3cret@redis/1") == "redis://user:***@redis/1"
    assert redacted_url("redis://redis:6379/0") == "redis://redis:6379/0"
