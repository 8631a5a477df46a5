"""Each Redis store against the in-process store it replaces, one process, a real redis-server:
the same script of calls at the same (frozen) times gets the same answers from both."""

from __future__ import annotations

import asyncio
import calendar

import pytest
from serpsim_simulator.backends.serpapi.spend import SpendCap
from serpsim_simulator.errors import InvalidParameter, RateLimited
from serpsim_simulator.search.accounts import Accounts, MemoryAccountStore, UsageCounters, Verdict
from serpsim_simulator.search.archive import MemoryArchive
from serpsim_simulator.search.cache import CachedResult, Hit, Usage
from serpsim_simulator.settings import LimitSettings, Settings
from serpsim_simulator.shared_state.accounts import RedisAccountStore
from serpsim_simulator.shared_state.archive import RedisArchive
from serpsim_simulator.shared_state.cache import RedisCache
from serpsim_simulator.shared_state.client import SharedRedis
from serpsim_simulator.shared_state.spend import RedisSpendCap

from ..redis_server import RedisServer
from .conftest import Clock, state_settings

VALUE = CachedResult([Hit("1", "T", "snippet", "https://x", 1.0, "useful", {"a": 1})], 10, Usage(1, 20, 30, 0.5))


async def assert_all_keys_expire(shared: SharedRedis) -> None:
    keys = await shared.client.keys(shared.key("*"))
    assert keys
    for key in keys:
        assert await shared.client.pttl(key) > 0, key


async def outcome(accounts: Accounts, identity: str, searches: int) -> tuple[str, str] | None:
    try:
        await accounts.charge(identity, searches)
    except RateLimited as exc:
        return exc.message, (exc.headers or {})["Retry-After"]
    except InvalidParameter as exc:  # more than the bucket could ever hold
        return exc.message, "400"
    return None


@pytest.mark.parametrize(
    "limits",
    [
        LimitSettings(rate_per_second=2, rate_burst=3, rate_per_hour=5),
        LimitSettings(rate_per_hour=3),
        LimitSettings(rate_per_second=1.5),
        LimitSettings(rate_per_second=0.5, rate_burst=4, rate_per_hour=7),
    ],
    ids=["bucket+hour", "hour", "bucket-default-burst", "slow-bucket+hour"],
)
async def test_account_stores_give_identical_answers(shared: SharedRedis, limits: LimitSettings) -> None:
    """Token bucket, the hour in one-minute steps, costs above one, usage and /account.json's
    numbers: every verdict (exact wait in seconds), every 429 and every report alike."""
    base = 1_000_000.0
    memory_clock, redis_clock = Clock(base), Clock(base)
    memory = MemoryAccountStore(100, clock=memory_clock)
    redis = RedisAccountStore(shared, usage_ttl_s=600, clock=redis_clock)
    pairs = [(Accounts(limits, store=memory), memory), (Accounts(limits, store=redis), redis)]
    script = [
        (0, 1), (0, 2), (0, 1), (0.2, 1), (0.5, 1), (0.6, 2), (1.0, 1), (1.4, 1), (2.0, 3), (3.0, 1), (10, 1),
        (59.9, 1), (60.0, 1), (61, 2), (3599.9, 1), (3600.0, 1), (3600.1, 1), (3659.9, 1), (3660.0, 2),
        (3700, 1), (7300, 1), (7300, 1),
    ]
    answers: list[list[object]] = [[], []]
    for offset, searches in script:
        for side, (accounts, store) in enumerate(pairs):
            memory_clock.t = redis_clock.t = base + offset
            verdict = await store.charge("key:a", searches, accounts.allowance)
            answers[side].append(verdict)
            # The same again through the rules (a second charge when the first was admitted).
            answers[side].append(await outcome(accounts, "key:a", searches))
            usage = UsageCounters(searches=searches, cache_hits=1, generations=2, prompt_tokens=3,
                                  completion_tokens=4, engine_seconds=0.125)
            await store.record("key:a", usage)
            answers[side].append(await store.report("key:a"))
    assert answers[1] == answers[0]
    kinds = {a.refused for a in answers[0] if isinstance(a, Verdict)}
    assert "" in kinds and len(kinds) >= 2, kinds  # the script is admitted and refused
    assert await redis.report("key:unknown") == await memory.report("key:unknown") == (UsageCounters(), 0)
    await assert_all_keys_expire(shared)


async def test_account_keys_are_bounded(shared: SharedRedis) -> None:
    """An identity's hour holds at most one field per minute, whatever the traffic (two hours of it)."""
    clock = Clock()
    redis = RedisAccountStore(shared, usage_ttl_s=600, clock=clock)
    memory = MemoryAccountStore(10, clock=clock)
    limits = LimitSettings(rate_per_second=1000, rate_burst=1000, rate_per_hour=100_000)
    for _ in range(1000):
        clock.t += 7.3
        for store in (redis, memory):
            await Accounts(limits, store=store).charge("key:a", 1)
    assert await shared.client.hlen(redis._key("key:a", "steps")) == 60  # the minutes that started within the hour
    assert (await redis.report("key:a"))[1] == (await memory.report("key:a"))[1] > 480


async def test_spend_caps_give_identical_answers(shared: SharedRedis) -> None:
    """Per hour, per month (across a month's end), refunds: the file-backed cap and the Redis one alike."""
    start = calendar.timegm((2026, 11, 30, 22, 30, 0))
    memory_clock, redis_clock = Clock(start), Clock(start)
    caps = [SpendCap("serpapi", per_hour=5, per_month=6, clock=memory_clock),
            RedisSpendCap(shared, "serpapi", per_hour=5, per_month=6, clock=redis_clock)]
    script = [(0, 2, False), (10, 2, True), (20, 2, False), (30, 1, False), (3599, 1, False), (3601, 1, False),
              (3610, 1, False), (3700, 1, False), (5400, 4, True), (5400, 1, False)]
    answers: list[list[object]] = [[], []]
    for offset, searches, refund in script:
        for side, cap in enumerate(caps):
            memory_clock.t = redis_clock.t = start + offset
            try:
                token = await cap.reserve(searches)
                answers[side].append("ok")
                if refund:
                    await cap.refund(token)
            except RateLimited as exc:
                answers[side].append((exc.message, (exc.headers or {})["Retry-After"]))
            answers[side].append(await cap.usage())
    assert answers[1] == answers[0]
    messages = [a[0] for a in answers[0] if isinstance(a, tuple)]
    assert any("searches_per_month=6" in m for m in messages) and any("searches_per_hour=5" in m for m in messages)
    assert answers[0][-1] == {"last_hour": 5, "this_month": 4}  # December: a new month
    await assert_all_keys_expire(shared)


async def test_archives_keep_the_newest_within_capacity(shared: SharedRedis) -> None:
    clock = Clock(1_800_000_000.0)
    archives = [MemoryArchive(5), RedisArchive(shared, capacity=5, ttl_s=600, clock=clock)]
    for archive in archives:
        for n in range(8):
            clock.t += 1
            await archive.put(f"id{n}", {"search_metadata": {"id": f"id{n}"}, "n": n})
    for archive in archives:
        assert [await archive.get(f"id{n}") is None for n in range(8)] == [True] * 3 + [False] * 5
        assert await archive.get("id7") == {"search_metadata": {"id": "id7"}, "n": 7}
    assert await archives[1].count() == 5
    assert len(await shared.client.keys(shared.key("archive", "search", "*"))) == 5  # dropped ids' responses too
    await assert_all_keys_expire(shared)


async def test_archived_searches_expire(shared: SharedRedis) -> None:
    archive = RedisArchive(shared, capacity=10, ttl_s=0.2)
    await archive.put("soon-gone", {"n": 1})
    assert await archive.get("soon-gone") == {"n": 1}
    await asyncio.sleep(0.3)
    assert await archive.get("soon-gone") is None


async def test_result_cache_roundtrip_ttl_and_the_older_keys(redis_server: RedisServer) -> None:
    """Keys as the cache wrote them before shared state (`serpsim:result:<digest>`): a deployment
    that set SERPSIM_CACHE__REDIS_URL keeps its cached searches."""
    shared = SharedRedis(state_settings(redis_server.url, key_prefix="serpsim"))
    try:
        await shared.client.set("serpsim:result:digest-1", VALUE.dumps(), px=60_000)
        cache = RedisCache(shared, ttl_s=0.2)
        assert await cache.get("digest-1") == VALUE
        await cache.put("digest-2", VALUE)
        assert await cache.get("digest-2") == VALUE
        await asyncio.sleep(0.3)
        assert await cache.get("digest-2") is None
        assert await cache.get("never") is None
    finally:
        await shared.client.delete("serpsim:result:digest-1")
        await shared.aclose()


def test_one_redis_url_for_all_shared_state() -> None:
    old = Settings.model_validate({"cache": {"redis_url": "redis://cache:6379/0"}})
    assert old.shared_state.redis_url == "redis://cache:6379/0"  # today's setting keeps working
    both = Settings.model_validate({"cache": {"redis_url": "redis://r/0"}, "shared_state": {"redis_url": "redis://r/0"}})
    assert both.shared_state.redis_url == "redis://r/0"
    assert Settings().shared_state.redis_url is None
    with pytest.raises(ValueError, match="different servers"):
        Settings.model_validate({"cache": {"redis_url": "redis://a/0"}, "shared_state": {"redis_url": "redis://b/0"}})
