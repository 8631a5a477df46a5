"""Rate limits in Redis, one process: the in-process limiter's semantics, costs, bounded keys."""

from __future__ import annotations

import pytest
from serpsim_simulator.errors import InvalidParameter, RateLimited
from serpsim_simulator.security import OUT_OF_SEARCHES, THROUGHPUT_EXCEEDED, RateLimiter
from serpsim_simulator.settings import LimitSettings
from serpsim_simulator.shared_state.client import SharedRedis
from serpsim_simulator.shared_state.limits import SharedRateLimiter


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def outcome_of(exc: RateLimited | None) -> tuple[str, str] | None:
    return None if exc is None else (exc.message, (exc.headers or {})["Retry-After"])


@pytest.mark.parametrize(
    "limits",
    [
        LimitSettings(rate_per_second=2, rate_burst=3, rate_per_hour=5),
        LimitSettings(rate_per_hour=3),
        LimitSettings(rate_per_second=1.5),
        LimitSettings(rate_per_second=0.5, rate_burst=2, rate_per_hour=4),
    ],
    ids=["bucket+hour", "hour", "bucket-default-burst", "slow-bucket+hour"],
)
async def test_same_answers_as_the_in_process_limiter(shared: SharedRedis, limits: LimitSettings) -> None:
    """Every acquisition of a script of times: admitted or refused alike, same message, same Retry-After."""
    offsets = [0, 0, 0, 0, 0.2, 0.5, 0.6, 1.0, 1.4, 2.0, 3.0, 10, 11, 3599.9, 3600.0, 3600.1, 3600.5, 3601.2, 3700, 7300, 7300]
    base = 1_000_000.0
    local_clock, shared_clock = Clock(base), Clock(base)
    local = RateLimiter(limits, clock=local_clock)
    remote = SharedRateLimiter.from_limits(shared, limits)
    remote.clock = shared_clock
    expected, got = [], []
    for offset in offsets:
        local_clock.t = shared_clock.t = base + offset
        try:
            local.acquire("key:a")
            expected.append(None)
        except RateLimited as exc:
            expected.append(outcome_of(exc))
        try:
            await remote.acquire("key:a")
            got.append(None)
        except RateLimited as exc:
            got.append(outcome_of(exc))
    assert got == expected
    assert None in got and any(g is not None for g in got)  # the script exercises both answers


async def test_cost_takes_that_many_tokens_and_waits_for_them(shared: SharedRedis) -> None:
    clock = Clock()
    limiter = SharedRateLimiter(shared, per_second=2, burst=10, per_hour=0, clock=clock)
    await limiter.acquire("key:a", cost=6)
    await limiter.acquire("key:a", cost=4)
    with pytest.raises(RateLimited) as refused:
        await limiter.acquire("key:a", cost=7)
    assert refused.value.message == THROUGHPUT_EXCEEDED
    assert refused.value.headers == {"Retry-After": "4"}  # 7 tokens at 2/s: 3.5 s
    clock.t += 3.4
    with pytest.raises(RateLimited):
        await limiter.acquire("key:a", cost=7)  # 6.8 tokens
    clock.t += 0.1
    await limiter.acquire("key:a", cost=7)
    await limiter.acquire("key:b", cost=10)  # another identity has its own bucket


async def test_hourly_quota_counts_cost_and_waits_for_enough_to_leave_the_hour(shared: SharedRedis) -> None:
    clock = Clock()
    limiter = SharedRateLimiter(shared, per_second=0, burst=1, per_hour=10, clock=clock)
    await limiter.acquire("key:a", cost=3)  # t0
    clock.t += 100
    await limiter.acquire("key:a", cost=3)  # t0 + 100
    clock.t += 100
    await limiter.acquire("key:a", cost=4)  # t0 + 200: 10 used
    with pytest.raises(RateLimited) as refused:
        await limiter.acquire("key:a", cost=5)  # needs the first two to leave: at t0 + 3700
    assert refused.value.message == OUT_OF_SEARCHES
    assert refused.value.headers == {"Retry-After": str(3700 - 200)}
    clock.t += 3399.9  # t0 + 3599.9: nothing has left yet
    with pytest.raises(RateLimited):
        await limiter.acquire("key:a", cost=1)
    clock.t += 0.1  # t0 + 3600: the first (3) has left, 7 used
    await limiter.acquire("key:a", cost=3)
    with pytest.raises(RateLimited):
        await limiter.acquire("key:a", cost=1)


async def test_a_cost_beyond_the_limits_is_a_client_error_not_a_retry(shared: SharedRedis) -> None:
    limiter = SharedRateLimiter(shared, per_second=5, burst=8, per_hour=20)
    with pytest.raises(InvalidParameter, match="at most 8 are allowed at once"):
        await limiter.acquire("key:a", cost=9)
    hourly = SharedRateLimiter(shared, per_second=0, burst=1, per_hour=20)
    with pytest.raises(InvalidParameter, match="at most 20 are allowed per hour"):
        await hourly.acquire("key:a", cost=21)
    assert await shared.client.keys(shared.key("*")) == []  # refused before counting anything


async def test_off_limits_touch_no_redis(shared: SharedRedis) -> None:
    limiter = SharedRateLimiter(shared, per_second=0, burst=1, per_hour=0)
    for _ in range(50):
        await limiter.acquire("key:a", cost=1000)
    assert await shared.client.keys(shared.key("*")) == []


async def test_every_key_expires_and_the_table_stays_bounded(shared: SharedRedis) -> None:
    limiter = SharedRateLimiter(shared, per_second=10, burst=10, per_hour=50)
    for n in range(40):
        try:
            await limiter.acquire(f"ip:10.0.0.{n}")
        except RateLimited:
            pass
    keys = await shared.client.keys(shared.key("*"))
    assert len(keys) == 80  # a bucket and an hour per identity
    for key in keys:
        ttl_ms = await shared.client.pttl(key)
        assert 0 < ttl_ms <= 3_601_000


async def test_a_lost_key_is_recounted_not_forgiven(shared: SharedRedis) -> None:
    """`maxmemory` eviction may drop the bucket hash and keep the hour's log: the log still counts."""
    clock = Clock()
    limiter = SharedRateLimiter(shared, per_second=0, burst=1, per_hour=5, clock=clock)
    for _ in range(4):
        await limiter.acquire("key:a")
    bucket, hour = limiter.keys("key:a")
    await shared.client.delete(bucket)
    await limiter.acquire("key:a")
    with pytest.raises(RateLimited):
        await limiter.acquire("key:a")
    await shared.client.delete(hour)  # the log gone: nothing left to count (the sum is not trusted alone)
    await limiter.acquire("key:a")
