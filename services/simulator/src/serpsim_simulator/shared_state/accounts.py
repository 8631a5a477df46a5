"""The accounts' state in Redis: `search.accounts.AccountStore` for every worker and replica.

`charge` is `MemoryAccountStore.charge` as one Lua script (the same token bucket, the same hour
in one-minute steps, the same order of checks and the same waits, in the same float arithmetic),
so a check and its debit are one step in Redis however many processes call at once; never a
read-modify-write from Python. Per identity (one hash tag, one Redis Cluster slot):

    {prefix}:acct:{identity}:bucket   hash  tokens, refilled     expires once the bucket is full again
    {prefix}:acct:{identity}:steps    hash  step start -> searches, the last hour's steps (at most 60)
    {prefix}:acct:{identity}:usage    hash  UsageCounters' fields, dropped after `usage_ttl_s` idle
    {prefix}:acct:total:usage         hash  the same, for everyone (dropped alike)

The clock is Redis's own (`TIME`), one time for every process on every host; tests pass theirs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from redis.asyncio import Redis

from ..search.accounts import ADMITTED, HOUR_S, STEP_S, USAGE_FIELDS, Allowance, UsageCounters, Verdict
from .client import SharedRedis, run_script

_CHARGE = """
-- KEYS: bucket hash, steps hash. ARGV: per second, burst, per hour, searches, now ('' = Redis TIME),
-- step, hour. Returns {'', '0'} admitted, {'quota' | 'throughput', wait seconds as %.17g}.
local rate, burst, quota, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now
if ARGV[5] ~= '' then now = tonumber(ARGV[5]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local step_s, hour_s = tonumber(ARGV[6]), tonumber(ARGV[7])
local function num(x) return string.format('%.17g', x) end

-- The hour: steps that started at or before now - hour are over.
local starts, counts, last_hour = {}, {}, 0
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do
  local start, count = tonumber(flat[i]), tonumber(flat[i + 1])
  if start <= now - hour_s then
    redis.call('HDEL', KEYS[2], flat[i])
  else
    table.insert(starts, start)
    counts[start] = count
    last_hour = last_hour + count
  end
end
if quota > 0 and last_hour + n > quota then
  table.sort(starts)
  local need, freed = last_hour + n - quota, 0
  for _, start in ipairs(starts) do
    freed = freed + counts[start]
    if freed >= need then return {'quota', num(start + hour_s - now)} end
  end
  return {'quota', num(hour_s)}
end

if rate > 0 then
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'refilled')
  local tokens = burst
  if state[1] then tokens = math.min(burst, tonumber(state[1]) + (now - tonumber(state[2])) * rate) end
  local admitted = tokens >= n
  if admitted then
    redis.call('HSET', KEYS[1], 'tokens', num(tokens - n), 'refilled', num(now))
  else
    redis.call('HSET', KEYS[1], 'tokens', num(tokens), 'refilled', num(now))
  end
  -- Empty for burst/rate seconds is a full bucket again: the key may go.
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
  if not admitted then return {'throughput', num((n - tokens) / rate)} end
end

local step = math.floor(now / step_s) * step_s
redis.call('HINCRBY', KEYS[2], num(step), n)
redis.call('PEXPIRE', KEYS[2], math.ceil((hour_s + step_s) * 1000))
return {'', '0'}
"""

_RECORD = """
-- KEYS: the identity's usage hash, the total's. ARGV: ttl (ms), then field, amount pairs (engine_seconds last, a float).
for k = 1, 2 do
  for i = 2, #ARGV - 2, 2 do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]) end
  redis.call('HINCRBYFLOAT', KEYS[k], ARGV[#ARGV - 1], ARGV[#ARGV])
  redis.call('PEXPIRE', KEYS[k], ARGV[1])
end
return 1
"""


def counters_of(raw: dict[bytes, bytes]) -> UsageCounters:
    return UsageCounters(**{
        name: (float if name == "engine_seconds" else int)(raw.get(name.encode(), 0)) for name in USAGE_FIELDS
    })


class RedisAccountStore:
    def __init__(self, shared: SharedRedis, usage_ttl_s: float, clock: Callable[[], float] | None = None) -> None:
        self.shared = shared
        self.usage_ttl_ms = max(1, math.ceil(usage_ttl_s * 1000))
        self.clock = clock
        self._charge = shared.script(_CHARGE)
        self._record = shared.script(_RECORD)

    def _key(self, identity: str, part: str) -> str:
        return self.shared.key("acct", "{" + identity + "}", part)

    def _total(self) -> str:
        return self.shared.key("acct", "total", "usage")

    async def charge(self, identity: str, searches: int, allowance: Allowance) -> Verdict:
        now = "" if self.clock is None else repr(float(self.clock()))
        args = [repr(float(allowance.per_second)), repr(float(allowance.burst)), allowance.per_hour, searches, now,
                repr(STEP_S), repr(HOUR_S)]
        keys = [self._key(identity, "bucket"), self._key(identity, "steps")]
        refused, wait = await run_script(self.shared, "accounts.charge", self._charge, keys, args)
        refused = refused.decode() if isinstance(refused, bytes) else refused
        return ADMITTED if not refused else Verdict(refused, float(wait))

    async def record(self, identity: str, usage: UsageCounters) -> None:
        args: list[str | int] = [self.usage_ttl_ms]
        for name in USAGE_FIELDS:
            value = getattr(usage, name)
            args += [name, repr(float(value)) if name == "engine_seconds" else int(value)]
        keys = [self._key(identity, "usage"), self._total()]
        await run_script(self.shared, "accounts.record", self._record, keys, args)

    async def report(self, identity: str) -> tuple[UsageCounters, int]:
        usage_key, steps_key = self._key(identity, "usage"), self._key(identity, "steps")

        async def fetch(r: Redis) -> list[dict[bytes, bytes]]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.hgetall(usage_key)
                pipe.hgetall(steps_key)
                if self.clock is None:
                    pipe.time()
                return await pipe.execute()

        replies = await self.shared.call("accounts.report", fetch)
        counters, steps = replies[0], replies[1]
        if self.clock is None:
            seconds, micros = replies[2]
            now = seconds + micros / 1_000_000
        else:
            now = self.clock()
        last_hour = sum(int(count) for start, count in steps.items() if float(start) > now - HOUR_S)
        return counters_of(counters), last_hour

    async def aclose(self) -> None:
        """Nothing: the client belongs to the `SharedRedis`, closed by whoever built it."""
