"""The SerpApi spend cap in Redis (`backends.serpapi.spend.SpendStore`): one budget for every
worker and replica, whichever forwards the search.

The decisions of the file-backed `SpendCap`, in one Lua script so concurrent callers can never
overspend: the month's count first, then the searches of the last hour (each one logged with
its time in a sorted set), all of a reservation counted or none; a refund removes one search of
its reservation and one from its month. The refusals are `SpendCap`'s (`refuse_month`,
`refuse_hour`). Times are the caller's wall clock, as the file-backed cap's.

    {prefix}:spend:{name}:hour          sorted set  "<time>:<reservation>:<i>" scored by time
    {prefix}:spend:{name}:month:<YYYY-MM>  counter  expires a month after its month ends
    {prefix}:spend:{name}:seq           counter     reservation numbers (kept an hour)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from ..backends.serpapi.spend import HOUR_S, month_end, month_name, refuse_hour, refuse_month
from .client import SharedRedis, run_script

_KEEP_MONTH_S = 31 * 86_400

_RESERVE = """
-- KEYS: hour log, month counter, reservation counter. ARGV: per hour, per month, searches, now, hour,
-- month expiry (unix s). Returns {'ok', reservation} | {'month', count} | {'hour', count, oldest}.
local per_hour, per_month, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now, hour_s = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - hour_s))
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if month + n > per_month then return {'month', tostring(month)} end
local hour = redis.call('ZCARD', KEYS[1])
if hour + n > per_hour then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'hour', tostring(hour), oldest[2] or ARGV[4]}
end
local seq = redis.call('INCR', KEYS[3])
for i = 1, n do redis.call('ZADD', KEYS[1], ARGV[4], ARGV[4] .. ':' .. seq .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], math.ceil(hour_s * 1000) + 1000)
redis.call('PEXPIRE', KEYS[3], math.ceil(hour_s * 1000) + 1000)  -- numbers only need to differ within the hour
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIREAT', KEYS[2], ARGV[6])
return {'ok', tostring(seq)}
"""

_REFUND = """
-- KEYS: hour log, the reservation's month counter. ARGV: the reservation's time, its member prefix.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
  if string.sub(member, 1, #ARGV[2]) == ARGV[2] then
    redis.call('ZREM', KEYS[1], member)
    break
  end
end
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if month > 0 then redis.call('DECR', KEYS[2]) end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSpendCap:
    def __init__(
        self, shared: SharedRedis, name: str, per_hour: int, per_month: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.shared = shared
        self.name = name
        self.per_hour = per_hour
        self.per_month = per_month
        self.clock = clock
        self._reserve = shared.script(_RESERVE)
        self._refund = shared.script(_REFUND)

    def _key(self, *parts: str) -> str:
        return self.shared.key("spend", "{" + self.name + "}", *parts)

    async def reserve(self, searches: int = 1) -> tuple[str, str, str]:
        now = self.clock()
        stamp = repr(float(now))
        keys = [self._key("hour"), self._key("month", month_name(now)), self._key("seq")]
        args = [self.per_hour, self.per_month, searches, stamp, repr(HOUR_S), month_end(now) + _KEEP_MONTH_S]
        reply = [_text(v) for v in await run_script(self.shared, "spend.reserve", self._reserve, keys, args)]
        if reply[0] == "month":
            raise refuse_month(int(reply[1]), searches, self.per_month, now)
        if reply[0] == "hour":
            raise refuse_hour(int(reply[1]), searches, self.per_hour, float(reply[2]), now)
        return stamp, reply[1], month_name(now)

    async def refund(self, token: tuple[str, str, str]) -> None:
        stamp, seq, month = token
        keys = [self._key("hour"), self._key("month", month)]
        await run_script(self.shared, "spend.refund", self._refund, keys, [stamp, f"{stamp}:{seq}:"])

    async def usage(self) -> dict[str, int]:
        now = self.clock()

        async def fetch(r: Redis) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.zcount(self._key("hour"), f"({now - HOUR_S!r}", "+inf")
                pipe.get(self._key("month", month_name(now)))
                return await pipe.execute()

        hour, month = await self.shared.call("spend.usage", fetch)
        return {"last_hour": int(hour), "this_month": int(month or 0)}
