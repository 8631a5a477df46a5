"""Redis killed or hung: every component answers as configured, counts it, logs it once; then resumes."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app
from serpsim_simulator.backends.serpapi.backend import SerpApiBackend
from serpsim_simulator.errors import Overloaded, SimulatorError, StoreUnavailable
from serpsim_simulator.search.accounts import LIMITS_UNAVAILABLE, USAGE_UNAVAILABLE, Accounts, UsageCounters
from serpsim_simulator.search.service import ARCHIVE_UNAVAILABLE, SearchService
from serpsim_simulator.settings import LimitSettings
from serpsim_simulator.shared_state.accounts import RedisAccountStore
from serpsim_simulator.shared_state.archive import RedisArchive
from serpsim_simulator.shared_state.cache import RedisCache
from serpsim_simulator.shared_state.client import SharedRedis, redacted_url
from serpsim_simulator.shared_state.spend import RedisSpendCap

from ..backends.conftest import ask
from ..backends.fake_serpapi import serve_fake_serpapi
from ..backends.test_serpapi import KEY
from ..backends.test_serpapi import make_settings as serpapi_settings
from ..conftest import _wait_ready, make_settings
from ..fakes import FakeEngine
from ..redis_server import RedisServer
from .conftest import state_settings
from .test_stores import VALUE

LIMITS = LimitSettings(rate_per_second=100, rate_burst=100, rate_per_hour=1000)
ONE = UsageCounters(searches=1)


async def test_killed_redis_every_component_degrades_as_configured_then_resumes(own_redis: RedisServer) -> None:
    hooked: list[str] = []
    shared = SharedRedis(state_settings(own_redis.url, retry_interval_s=0.1), on_unavailable=hooked.append)
    store = RedisAccountStore(shared, usage_ttl_s=600)
    closed = Accounts(LIMITS, store=store, retry_after_s=2)
    opened = Accounts(LIMITS, store=store, on_outage="open")
    archive = RedisArchive(shared, capacity=10, ttl_s=60)
    service = SearchService({"fake": _simulated()}, closed, archive=archive)
    cache = RedisCache(shared, ttl_s=60)
    cap = RedisSpendCap(shared, "serpapi", per_hour=100, per_month=1000)
    try:
        await closed.charge("key:a", 1)
        await store.record("key:a", ONE)
        await cache.put("k", VALUE)
        assert await shared.ping()

        own_redis.kill()
        with pytest.raises(Overloaded) as refused:
            await closed.charge("key:a", 1)
        assert (refused.value.status, refused.value.message, refused.value.headers) == (
            503, LIMITS_UNAVAILABLE, {"Retry-After": "2"})
        await opened.charge("key:a", 1)  # let through, never silently: counted below
        await closed.record("key:a", [])  # skipped, counted
        with pytest.raises(Overloaded, match=USAGE_UNAVAILABLE):
            await closed.report("key:a")
        await service.keep("id", {"n": 1})  # skipped: the search was served
        with pytest.raises(Overloaded, match=ARCHIVE_UNAVAILABLE):
            await service.archived("id")
        assert await cache.get("k") is None
        await cache.put("k2", VALUE)
        with pytest.raises(StoreUnavailable):
            await cap.reserve()
        assert await shared.ping() is False
        expected = {
            "accounts.charge": 2, "accounts.record": 1, "accounts.report": 1, "archive.put": 1, "archive.get": 1,
            "cache.get": 1, "cache.put": 1, "spend.reserve": 1, "ping": 1,
        }
        assert dict(shared.unavailable) == expected
        assert sorted(hooked) == sorted(op for op, n in expected.items() for _ in range(n))

        own_redis.start()  # empty: no persistence
        await asyncio.sleep(0.15)
        await closed.charge("key:a", 1)
        await store.record("key:a", UsageCounters(searches=2))
        usage, last_hour = await closed.report("key:a")
        assert (usage.searches, last_hour) == (2, 1)
        await service.keep("id", {"n": 1})
        assert await service.archived("id.json") == {"n": 1}
        await cache.put("k", VALUE)
        assert await cache.get("k") == VALUE
        await cap.reserve()
        assert sum(shared.unavailable.values()) == sum(expected.values())  # nothing degraded since
    finally:
        await shared.aclose()


def _simulated() -> object:
    from serpsim_simulator.settings import SimulationSettings
    from serpsim_simulator.simulation.admission import Admission
    from serpsim_simulator.simulation.backend import SimulatedBackend

    return SimulatedBackend("fake", FakeEngine(), SimulationSettings(), Admission(8, 8, 1))


async def test_a_hung_redis_costs_one_timeout_then_answers_at_once(own_redis: RedisServer) -> None:
    """SIGSTOP: connections open, nothing answers. Without timeouts a request would hang; with
    them the first call waits `timeout_s`, the next ones are refused at once until the retry interval."""
    shared = SharedRedis(state_settings(own_redis.url, timeout_s=0.3, retry_interval_s=0.5))
    limiter = Accounts(LimitSettings(rate_per_second=100, rate_burst=100), store=RedisAccountStore(shared, 600))
    try:
        await limiter.charge("key:a", 1)
        own_redis.pause()
        started = time.monotonic()
        with pytest.raises(Overloaded):
            await limiter.charge("key:a", 1)
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(Overloaded):
                await limiter.charge("key:a", 1)
        rest = time.monotonic() - started
        assert 0.25 < first < 2.0
        assert rest < first  # twenty refusals together take less than the one that waited
        own_redis.resume()
        await asyncio.sleep(0.55)
        await limiter.charge("key:a", 1)
        assert shared.unavailable["accounts.charge"] == 21
    finally:
        own_redis.resume()
        await shared.aclose()


async def test_an_outage_is_logged_once_per_interval_and_its_end_once(own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    shared = SharedRedis(state_settings(own_redis.url, retry_interval_s=0.0, error_log_interval_s=60))
    store = RedisAccountStore(shared, 600)
    try:
        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="serpsim_simulator.shared_state.client"):
            for _ in range(25):
                await _record(store)
            own_redis.start()
            for _ in range(5):
                await _record(store)
            own_redis.kill()
            await _record(store)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        recoveries = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(errors) == 2  # the first outage once (25 failures), the second as soon as it starts
        assert "1 operations degraded since the last report" in errors[0].getMessage()
        assert "25 operations degraded since the last report" in errors[1].getMessage()  # 24 unreported + 1
        assert len(recoveries) == 1 and "answers again (25 operations degraded" in recoveries[0].getMessage()
        assert shared.unavailable["accounts.record"] == 26
    finally:
        await shared.aclose()


async def test_load_beyond_the_pool_waits_for_a_connection_instead_of_failing(own_redis: RedisServer) -> None:
    """More concurrent calls than connections is load, not an outage: none may be degraded."""
    shared = SharedRedis(state_settings(own_redis.url, max_connections=4))
    store = RedisAccountStore(shared, 600)
    try:
        await asyncio.gather(*(store.record("key:a", ONE) for _ in range(200)))
        assert (await store.report("key:a"))[0].searches == 200
        assert not shared.unavailable
        assert len(await shared.client.client_list()) <= 4
    finally:
        await shared.aclose()


def test_passwords_stay_out_of_logs() -> None:
    assert redacted_url("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redacted_url("redis://user:s3cret@redis/1") == "redis://user:***@redis/1"
    assert redacted_url("redis://redis:6379/0") == "redis://redis:6379/0"


async def _record(store: RedisAccountStore) -> None:
    try:
        await store.record("key:a", ONE)
    except StoreUnavailable:
        pass



async def test_serpapi_backend_on_the_shared_cap_refunds_and_obeys_the_outage_policy(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    """The proxy's spend cap in Redis: counted once per search sent, refunded when SerpApi bills
    nothing; Redis down: `closed` never reaches SerpApi (503), `open` does, uncounted."""
    shared = SharedRedis(state_settings(own_redis.url, retry_interval_s=0.05))
    with serve_fake_serpapi(KEY) as upstream:
        settings = serpapi_settings(upstream.url, tmp_path, searches_per_hour=3)
        backends = [
            SerpApiBackend(settings, environ={"TEST_SERPAPI_KEY": KEY}, spend=RedisSpendCap(shared, "google", 3, 1000),
                           on_outage=policy)
            for policy in ("closed", "open")
        ]
        try:
            for b in backends:
                await b.start()
            closed, opened = backends
            await closed.search(ask(["a", "b"], num=3))
            with pytest.raises(SimulatorError) as refused:
                await opened.search(ask(["c", "d"], num=3))  # the other backend object, the same shared budget
            assert refused.value.status == 429 and "searches_per_hour=3" in refused.value.message
            assert await closed.spend.usage() == {"last_hour": 2, "this_month": 2}
            with pytest.raises(SimulatorError):
                await closed.search(ask(["err500"], num=1))  # SerpApi's error answer: not billed
            assert await closed.spend.usage() == {"last_hour": 2, "this_month": 2}

            own_redis.kill()
            sent = len(upstream.requests)
            with pytest.raises(Overloaded, match="spend cap cannot be checked"):
                await closed.search(ask(["e"], num=3))
            assert len(upstream.requests) == sent
            (result,) = await opened.search(ask(["e"], num=3))
            assert result.hits and len(upstream.requests) == sent + 1
            assert shared.unavailable["spend.reserve"] == 2
        finally:
            for b in backends:
                await b.aclose()
            await shared.aclose()


@pytest.mark.parametrize("policy", ["closed", "open"])
def test_the_service_through_a_redis_outage(own_redis: RedisServer, policy: str) -> None:
    """Through HTTP: Redis killed mid-run, the service keeps answering as configured (limits
    closed: SerpApi's 503 error; open: served from the engine, the cache missing), /account.json
    and the archive answer 503, every degraded operation is counted in /metrics; Redis back
    (empty, no persistence): searches, accounting and the archive resume."""
    state = state_settings(own_redis.url, limits_on_outage=policy, retry_interval_s=0.05).model_dump()
    settings = make_settings(shared_state=state, limits={"rate_per_second": 50, "rate_burst": 50})
    engine = FakeEngine()
    with TestClient(create_app(settings, engine=engine)) as c:
        _wait_ready(c)
        made = c.get("/search.json", params={"q": "before"})
        assert made.status_code == 200
        search_id = made.json()["search_metadata"]["id"]
        assert c.get(f"/searches/{search_id}.json").status_code == 200

        own_redis.kill()
        calls = len(engine.calls)
        during = [c.get("/search.json", params={"q": "before"}) for _ in range(5)]  # cached before the outage
        if policy == "closed":
            assert {r.status_code for r in during} == {503}
            assert during[0].json() == {"error": LIMITS_UNAVAILABLE} and during[0].headers["retry-after"] == "1"
        else:
            assert {r.status_code for r in during} == {200}
            assert not any(r.json()["search_metadata"].get("cached") for r in during)
            assert len(engine.calls) == calls + 5  # the cache missed: the engine answered each one
        account = c.get("/account.json")
        assert account.status_code == 503 and account.json() == {"error": USAGE_UNAVAILABLE}
        archived = c.get(f"/searches/{search_id}.json")
        assert archived.status_code == 503 and archived.json() == {"error": ARCHIVE_UNAVAILABLE}
        assert c.get("/healthz").status_code == 200
        metrics = c.get("/metrics").text
        assert 'serpsim_shared_state_errors_total{op="accounts.report"}' in metrics
        assert 'serpsim_shared_state_errors_total{op="accounts.charge"} 5.0' in metrics

        own_redis.start()
        time.sleep(0.1)
        again = c.get("/search.json", params={"q": "after"})
        assert again.status_code == 200
        assert c.get(f"/searches/{again.json()['search_metadata']['id']}.json").status_code == 200
        assert c.get("/account.json").json()["total_searches"] == 1  # counted again (the restarted Redis is empty)
