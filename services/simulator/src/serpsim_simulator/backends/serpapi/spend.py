"""The spend cap: how many searches this server may send to SerpApi per hour and per month.

A search is counted when it is sent (so concurrent requests cannot overshoot the cap) and
refunded only when SerpApi answered with an error status, which it does not bill; a timeout or
a malformed answer stays counted, since SerpApi may have run and billed the search. Over the
cap: a 429 with Retry-After, as SerpApi itself answers when a plan runs out, never a silent
pass to the upstream.

`SpendCap` keeps the counts in a small JSON file (one entry per backend name) guarded by a file
lock, so restarts and several server processes on one machine share one budget;
`shared_state.spend.RedisSpendCap` keeps them in Redis (one Lua script), so every worker and
replica shares it. Both answer through `SpendStore` with the same decisions and messages
(`refuse_month`, `refuse_hour`). The month is the calendar month in UTC (SerpApi's plans renew
on the billing date; a calendar month is the closest a server can know); the hour is the last
3600 s. A Redis store that cannot answer raises `StoreUnavailable`: the backend refuses (503)
or sends the search uncounted, per `shared_state.limits_on_outage`.
"""

from __future__ import annotations

import asyncio
import calendar
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ...errors import RateLimited

HOUR_S = 3600.0
SPEND_UNAVAILABLE = "The SerpApi spend cap cannot be checked right now. Please retry shortly."


class SpendStore(Protocol):
    async def reserve(self, searches: int = 1) -> Any:
        """Count `searches` now, all or none, or raise `RateLimited` (429); a token for `refund`."""
        ...

    async def refund(self, token: Any) -> None:
        """Give back one search of the reservation `token` (SerpApi answered an error it does not bill)."""
        ...

    async def usage(self) -> dict[str, int]: ...


def month_name(ts: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts))


def month_end(ts: float) -> int:
    """The unix time the UTC month of `ts` ends."""
    t = time.gmtime(ts)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


def refuse_month(count: int, searches: int, per_month: int, now: float) -> RateLimited:
    return RateLimited(
        f"SerpApi spend cap reached: {count} searches this month, {searches} more "
        f"would pass searches_per_month={per_month}.",
        headers={"Retry-After": str(max(1, int(month_end(now) - now) + 1))},
    )


def refuse_hour(count: int, searches: int, per_hour: int, oldest: float, now: float) -> RateLimited:
    wait = int(HOUR_S - (now - oldest)) + 1
    return RateLimited(
        f"SerpApi spend cap reached: {count} searches in the last hour, {searches} more "
        f"would pass searches_per_hour={per_hour}.",
        headers={"Retry-After": str(max(1, wait))},
    )


class SpendCap:
    def __init__(
        self, name: str, per_hour: int, per_month: int, path: str = ":memory:", clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.per_hour = per_hour
        self.per_month = per_month
        self.path = None if path == ":memory:" else Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._memory: dict[str, Any] = {}

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """This backend's entry, locked across threads and processes, saved on exit."""
        with self._lock:
            if self.path is None:
                yield self._memory
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{self.path}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    everything = json.loads(self.path.read_text()) if self.path.exists() else {}
                except ValueError:
                    everything = {}  # a torn or hand-edited file: start a fresh count rather than never serve
                entry = everything.setdefault(self.name, {})
                yield entry
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(everything))
                tmp.replace(self.path)

    def _prune(self, entry: dict[str, Any], now: float) -> None:
        if entry.get("month") != month_name(now):
            entry["month"], entry["month_count"] = month_name(now), 0
        entry["hour"] = [t for t in entry.get("hour", []) if now - t < HOUR_S]

    async def reserve(self, searches: int = 1) -> float:
        """`SpendStore.reserve` (the file lock is taken in a thread)."""
        return await asyncio.to_thread(self._reserve, searches)

    async def refund(self, token: float) -> None:
        await asyncio.to_thread(self._refund, token)

    async def usage(self) -> dict[str, int]:
        return await asyncio.to_thread(self._usage)

    def _reserve(self, searches: int) -> float:
        now = self.clock()
        with self._state() as entry:
            self._prune(entry, now)
            if entry["month_count"] + searches > self.per_month:
                raise refuse_month(entry["month_count"], searches, self.per_month, now)
            if len(entry["hour"]) + searches > self.per_hour:
                raise refuse_hour(len(entry["hour"]), searches, self.per_hour, min(entry["hour"], default=now), now)
            entry["month_count"] += searches
            entry["hour"].extend([now] * searches)
        return now

    def _refund(self, token: float) -> None:
        with self._state() as entry:
            if token in entry.get("hour", []):
                entry["hour"].remove(token)
            if entry.get("month") == month_name(token) and entry.get("month_count", 0) > 0:
                entry["month_count"] -= 1

    def _usage(self) -> dict[str, int]:
        now = self.clock()
        with self._state() as entry:
            self._prune(entry, now)
            return {"last_hour": len(entry["hour"]), "this_month": entry["month_count"]}
