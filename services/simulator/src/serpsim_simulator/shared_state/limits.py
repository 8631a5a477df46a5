"""Rate limits held in Redis: per identity, a token bucket and a sliding one-hour quota, exact across processes.

The semantics of `security.RateLimiter`, counted in searches instead of requests: `acquire(identity,
cost)` checks the hour first (429 "out of searches", Retry-After until enough of the oldest
searches leave the hour), then the bucket (429 "throughput", Retry-After until `cost` tokens have
refilled). Both checks and both deductions are one Lua script, so any number of workers and
replicas sharing the Redis admit exactly what one process would.

A cost larger than the bucket or the hourly quota can never be admitted: 400, not a 429 a client
would retry for ever. Every key expires once it would hold nothing (a full bucket, an empty hour).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import InvalidParameter, Overloaded, RateLimited
from ..security import OUT_OF_SEARCHES, THROUGHPUT_EXCEEDED
from ..settings import LimitSettings
from .client import SharedRedis, SharedStateUnavailable, run_script
from .settings import OutagePolicy
from .window_lua import CLOCK, WINDOW

HOUR_S = 3600.0

LIMITS_UNAVAILABLE = "Rate limits cannot be checked right now. Please retry shortly."

_ACQUIRE = CLOCK + WINDOW + """
-- KEYS: bucket hash (tokens, ts, used, seq), hour log. ARGV: per second, burst, per hour, cost,
-- now or '', window, ttl of the hash (ms). Returns {0, 0} admitted, {1, wait_ms} quota, {2, wait_ms} throughput.
local rate, burst, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cost, window, ttl_ms = tonumber(ARGV[4]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_from(ARGV[5])

local function finish(status, wait)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  return {status, math.ceil(wait * 1000)}
end

local used = 0
if quota > 0 then
  used = window_used(KEYS[1], KEYS[2], now, window)
  if used + cost > quota then
    redis.call('HSET', KEYS[1], 'used', string.format('%d', used))
    return finish(1, window_wait(KEYS[2], used, cost, quota, now, window))
  end
end
if rate > 0 then
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  local tokens = burst
  if state[1] and state[2] then
    tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
  end
  local admitted = tokens >= cost
  if admitted then tokens = tokens - cost end
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.6f', now))
  if not admitted then return finish(2, (cost - tokens) / rate) end
end
if quota > 0 then window_add(KEYS[1], KEYS[2], used, cost, now, window) end
return finish(0, 0)
"""


def retry_after(wait_ms: int) -> dict[str, str]:
    """SerpApi-style whole seconds, at least one (as `security.RateLimiter` sends)."""
    return {"Retry-After": str(max(1, math.ceil(wait_ms / 1000)))}


class SharedRateLimiter:
    """Per identity: `per_second` tokens refill a bucket of `burst`; at most `per_hour` in any hour.

    `clock=None` uses Redis's clock (one time for every process); tests pass their own.
    Redis unreachable: `on_outage="closed"` raises `Overloaded` (503, Retry-After), `"open"` admits.
    """

    def __init__(
        self,
        shared: SharedRedis,
        per_second: float,
        burst: float,
        per_hour: int,
        *,
        on_outage: OutagePolicy = "closed",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if per_second > 0 and burst < 1:
            raise ValueError("a token bucket needs a burst of at least 1")
        self.shared = shared
        self.per_second = per_second
        self.burst = burst
        self.per_hour = per_hour
        self.on_outage = on_outage
        self.clock = clock
        self._script = shared.script(_ACQUIRE)
        bucket_s = burst / per_second if per_second > 0 else 0.0
        # The hash holds the bucket (full again after burst/rate idle seconds) and the hour's sum.
        self._ttl_ms = math.ceil(max(bucket_s, HOUR_S if per_hour else 0.0) * 1000) + 1000

    @classmethod
    def from_limits(cls, shared: SharedRedis, limits: LimitSettings, on_outage: OutagePolicy = "closed") -> SharedRateLimiter:
        """The limits `security.RateLimiter` reads, with its default burst (max(1, per second))."""
        burst = float(limits.rate_burst or max(1.0, limits.rate_per_second))
        return cls(shared, limits.rate_per_second, burst, limits.rate_per_hour, on_outage=on_outage)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 or self.per_hour > 0

    def keys(self, identity: str) -> list[str]:
        # One hash tag per identity: both keys live on the same slot of a Redis Cluster.
        tag = "{" + identity + "}"
        return [self.shared.key("limits", tag, "bucket"), self.shared.key("limits", tag, "hour")]

    async def acquire(self, identity: str, cost: int = 1) -> None:
        """Count `cost` searches, or raise RateLimited with the seconds until they are allowed."""
        if not self.enabled:
            return
        if cost < 1:
            raise ValueError("cost must be at least 1")
        if self.per_second > 0 and cost > self.burst:
            raise InvalidParameter(
                f"This request needs {cost} searches; at most {math.floor(self.burst)} are allowed at once. Send fewer per request."
            )
        if self.per_hour > 0 and cost > self.per_hour:
            raise InvalidParameter(
                f"This request needs {cost} searches; at most {self.per_hour} are allowed per hour. Send fewer per request."
            )
        now = "" if self.clock is None else f"{self.clock():.6f}"
        args = [self.per_second, self.burst, self.per_hour, cost, now, HOUR_S, self._ttl_ms]
        try:
            status, wait_ms = await run_script(self.shared, "limits.acquire", self._script, self.keys(identity), args)
        except SharedStateUnavailable:
            if self.on_outage == "open":
                return
            wait_ms = math.ceil(self.shared.settings.retry_interval_s * 1000)
            raise Overloaded(LIMITS_UNAVAILABLE, headers=retry_after(wait_ms)) from None
        if status == 1:
            raise RateLimited(OUT_OF_SEARCHES, headers=retry_after(wait_ms))
        if status == 2:
            raise RateLimited(THROUGHPUT_EXCEEDED, headers=retry_after(wait_ms))
