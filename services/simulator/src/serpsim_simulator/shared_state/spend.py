"""The spend cap of a paid upstream (the SerpApi proxy): searches per sliding hour and per UTC month.

One cap for the whole deployment, whichever worker or replica forwards the search: checking both
windows and counting the search is one Lua script, so concurrent callers can never overspend.
Count before calling the upstream (`acquire`); a search refused here never reaches it.

Redis unreachable: refused (`Overloaded`, 503) unless `on_outage="open"`; a cap that protects a
bill fails closed by default, like the rate limits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from ..errors import InvalidParameter, Overloaded, RateLimited
from .client import SharedRedis, SharedStateUnavailable, run_script
from .limits import HOUR_S, retry_after
from .settings import OutagePolicy
from .usage import month_of
from .window_lua import CLOCK, WINDOW

SPEND_UNAVAILABLE = "The upstream's spend cap cannot be checked right now. Please retry shortly."

_ACQUIRE = CLOCK + WINDOW + """
-- KEYS: window hash, hour log, month counter. ARGV: per hour, per month, cost, now or '', window,
-- month expiry (unix s), seconds until the month ends. Returns {0, 0}, {1, wait_ms} hour, {2, wait_ms} month.
local per_hour, per_month, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now, window = now_from(ARGV[4]), tonumber(ARGV[5])
local used = 0
if per_hour > 0 then
  used = window_used(KEYS[1], KEYS[2], now, window)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  if used + cost > per_hour then
    redis.call('HSET', KEYS[1], 'used', string.format('%d', used))
    return {1, math.ceil(window_wait(KEYS[2], used, cost, per_hour, now, window) * 1000)}
  end
end
local month = tonumber(redis.call('GET', KEYS[3]) or '0')
if per_month > 0 and month + cost > per_month then
  return {2, math.ceil(tonumber(ARGV[7]) * 1000)}
end
if per_hour > 0 then window_add(KEYS[1], KEYS[2], used, cost, now, window) end
redis.call('INCRBY', KEYS[3], cost)
redis.call('EXPIREAT', KEYS[3], ARGV[6])
return {0, 0}
"""

_KEEP_MONTH_S = 31 * 86_400


@dataclass(frozen=True)
class Spend:
    last_hour: int
    this_month: int


class SpendCap:
    """At most `per_hour` searches in any hour and `per_month` per UTC month (0: no cap) for `scope`.

    `clock=None` uses Redis's clock for the hour; months follow `wall_clock` (UTC).
    """

    def __init__(
        self,
        shared: SharedRedis,
        scope: str,
        per_hour: int,
        per_month: int,
        *,
        on_outage: OutagePolicy = "closed",
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.shared = shared
        self.scope = scope
        self.per_hour = per_hour
        self.per_month = per_month
        self.on_outage = on_outage
        self.clock = clock
        self.wall_clock = wall_clock
        self._script = shared.script(_ACQUIRE)

    def _keys(self, month: str) -> list[str]:
        tag = "{" + self.scope + "}"
        return [
            self.shared.key("spend", tag, "window"),
            self.shared.key("spend", tag, "hour"),
            self.shared.key("spend", tag, "month", month),
        ]

    async def acquire(self, cost: int = 1) -> None:
        """Count `cost` upstream searches, or raise RateLimited (cap reached, with Retry-After)."""
        if cost < 1:
            raise ValueError("cost must be at least 1")
        for cap, period in ((self.per_hour, "hour"), (self.per_month, "month")):
            if cap and cost > cap:
                raise InvalidParameter(
                    f"This request needs {cost} {self.scope} searches; the spend cap allows {cap} per {period}."
                )
        wall = self.wall_clock()
        month, month_end = month_of(wall)
        now = "" if self.clock is None else f"{self.clock():.6f}"
        args = [self.per_hour, self.per_month, cost, now, HOUR_S, month_end + _KEEP_MONTH_S, max(0.0, month_end - wall)]
        try:
            status, wait_ms = await run_script(self.shared, "spend.acquire", self._script, self._keys(month), args)
        except SharedStateUnavailable:
            if self.on_outage == "open":
                return
            raise Overloaded(SPEND_UNAVAILABLE, headers=retry_after(math.ceil(self.shared.settings.retry_interval_s * 1000))) from None
        if status == 1:
            raise RateLimited(f"The {self.scope} spend cap of {self.per_hour} searches per hour is reached.", headers=retry_after(wait_ms))
        if status == 2:
            raise RateLimited(f"The {self.scope} spend cap of {self.per_month} searches per month is reached.", headers=retry_after(wait_ms))

    async def spent(self) -> Spend | None:
        """Searches counted in the last hour (when an hourly cap is set) and this month; None if Redis cannot answer."""
        wall = self.wall_clock()
        _, log, month_key = self._keys(month_of(wall)[0])
        now = wall if self.clock is None else self.clock()

        async def fetch(r: Redis) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.zrangebyscore(log, f"({now - HOUR_S:.6f}", "+inf")
                pipe.get(month_key)
                return await pipe.execute()

        try:
            members, month = await self.shared.call("spend.read", fetch)
        except SharedStateUnavailable:
            return None
        # Members are `<time>:<seq>:<cost>` (window_lua.py).
        return Spend(last_hour=sum(int(m.rsplit(b":", 1)[1]) for m in members), this_month=int(month or 0))
