"""Usage accounting in Redis: per identity and in total, this month and in the last hour, seen by every worker.

The counters of `usage.UsageCounters` (searches, cache hits, prompt and completion tokens, engine
seconds) per UTC calendar month, what SerpApi's `/account.json` reports as this month's usage,
plus searches per minute for `last_hour_searches`. One Lua script adds a search's numbers to the
identity's and the total's counters at once. Month keys expire a month after their month ends;
minute buckets older than an hour are dropped as new ones are written, and the key expires an
hour after its last write.

Redis unreachable: `record` skips (the search is served uncounted, and the skip is counted),
`read` returns None.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from ..usage import UsageCounters
from .client import SharedRedis, SharedStateUnavailable, run_script

TOTAL = "total"
_FIELDS = ("searches", "cache_hits", "prompt_tokens", "completion_tokens")
_KEEP_MONTH_S = 31 * 86_400
_MINUTES = 60

_RECORD = """
-- KEYS: month hashes, then minute hashes (per identity and total, or total alone).
-- ARGV: searches, cache hits, prompt tokens, completion tokens, engine seconds, minute, month expiry (unix s).
local minute = tonumber(ARGV[6])
local half = #KEYS / 2
for i = 1, half do
  local month = KEYS[i]
  redis.call('HINCRBY', month, 'searches', ARGV[1])
  redis.call('HINCRBY', month, 'cache_hits', ARGV[2])
  redis.call('HINCRBY', month, 'prompt_tokens', ARGV[3])
  redis.call('HINCRBY', month, 'completion_tokens', ARGV[4])
  redis.call('HINCRBYFLOAT', month, 'engine_seconds', ARGV[5])
  redis.call('EXPIREAT', month, ARGV[7])
  local minutes = KEYS[half + i]
  redis.call('HINCRBY', minutes, ARGV[6], ARGV[1])
  for _, field in ipairs(redis.call('HKEYS', minutes)) do
    if tonumber(field) <= minute - 60 then redis.call('HDEL', minutes, field) end
  end
  redis.call('EXPIRE', minutes, 3660)
end
return 1
"""


@dataclass(frozen=True)
class AccountUsage:
    """What `/account.json` reports: this month's counters and the searches of the last hour."""

    this_month: UsageCounters
    last_hour_searches: int


def month_of(t: float) -> tuple[str, int]:
    """The UTC month containing `t` ("2026-11") and the unix time it ends."""
    tm = time.gmtime(t)
    next_year, next_month = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
    return f"{tm.tm_year:04d}-{tm.tm_mon:02d}", calendar.timegm((next_year, next_month, 1, 0, 0, 0))


class SharedUsage:
    """Accounting for every worker and replica; `clock` is wall time (months and minutes are UTC)."""

    def __init__(self, shared: SharedRedis, clock: Callable[[], float] = time.time) -> None:
        self.shared = shared
        self.clock = clock
        self._script = shared.script(_RECORD)

    def _keys(self, identity: str | None, month: str) -> tuple[str, str]:
        who = TOTAL if identity is None else "id:" + identity
        return self.shared.key("usage", "month", month, who), self.shared.key("usage", "minutes", who)

    async def record(
        self,
        identity: str | None,
        *,
        searches: int,
        cache_hits: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        engine_seconds: float = 0.0,
    ) -> bool:
        """Add one request's work to `identity` (None: the total only) and to the total.

        False when Redis could not count it (the outage is counted and logged by `SharedRedis`).
        """
        now = self.clock()
        month, month_end = month_of(now)
        owners = [None] if identity is None else [identity, None]
        pairs = [self._keys(owner, month) for owner in owners]
        keys = [month_key for month_key, _ in pairs] + [minutes_key for _, minutes_key in pairs]
        args = [searches, cache_hits, prompt_tokens, completion_tokens, repr(float(engine_seconds)), int(now // 60), month_end + _KEEP_MONTH_S]
        try:
            await run_script(self.shared, "usage.record", self._script, keys, args)
        except SharedStateUnavailable:
            return False
        return True

    async def read(self, identity: str | None) -> AccountUsage | None:
        """`identity`'s usage (None: the total), or None when Redis cannot answer."""
        now = self.clock()
        month_key, minutes_key = self._keys(identity, month_of(now)[0])

        async def fetch(r: Redis) -> list[dict[bytes, bytes]]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.hgetall(month_key)
                pipe.hgetall(minutes_key)
                return await pipe.execute()

        try:
            month, minutes = await self.shared.call("usage.read", fetch)
        except SharedStateUnavailable:
            return None
        counters = UsageCounters(**{name: int(month.get(name.encode(), 0)) for name in _FIELDS})
        counters.engine_seconds = float(month.get(b"engine_seconds", 0.0))
        minute = int(now // 60)
        last_hour = sum(int(n) for m, n in minutes.items() if int(m) > minute - _MINUTES)
        return AccountUsage(counters, last_hour)
