"""The spend cap: how many searches this server may send to SerpApi per hour and per month.

A search is counted when it is sent (so concurrent requests cannot overshoot the cap) and
refunded only when SerpApi answered with an error status, which it does not bill; a timeout or
a malformed answer stays counted, since SerpApi may have run and billed the search. Over the
cap: a 429 with Retry-After, as SerpApi itself answers when a plan runs out, never a silent
pass to the upstream.

The counts persist in a small JSON file (one entry per backend name) guarded by a file lock,
so restarts and several server processes on one machine share one budget. The month is the
calendar month in UTC (SerpApi's plans renew on the billing date; a calendar month is the
closest a server can know); the hour is the last 3600 s.
"""

from __future__ import annotations

import calendar
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import RateLimited

HOUR_S = 3600.0


def _month(ts: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts))


def _seconds_to_next_month(ts: float) -> int:
    t = time.gmtime(ts)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return max(1, int(calendar.timegm((year, month, 1, 0, 0, 0)) - ts) + 1)


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
        if entry.get("month") != _month(now):
            entry["month"], entry["month_count"] = _month(now), 0
        entry["hour"] = [t for t in entry.get("hour", []) if now - t < HOUR_S]

    def reserve(self, searches: int = 1) -> float:
        """Count `searches` searches now, all or none, or raise `RateLimited` (429) when they
        would pass the cap. Returns a token for `refund`."""
        now = self.clock()
        with self._state() as entry:
            self._prune(entry, now)
            if entry["month_count"] + searches > self.per_month:
                raise RateLimited(
                    f"SerpApi spend cap reached: {entry['month_count']} searches this month, {searches} more "
                    f"would pass searches_per_month={self.per_month}.",
                    headers={"Retry-After": str(_seconds_to_next_month(now))},
                )
            if len(entry["hour"]) + searches > self.per_hour:
                wait = int(HOUR_S - (now - min(entry["hour"], default=now))) + 1
                raise RateLimited(
                    f"SerpApi spend cap reached: {len(entry['hour'])} searches in the last hour, {searches} more "
                    f"would pass searches_per_hour={self.per_hour}.",
                    headers={"Retry-After": str(max(1, wait))},
                )
            entry["month_count"] += searches
            entry["hour"].extend([now] * searches)
        return now

    def refund(self, token: float) -> None:
        """Give back a search SerpApi did not bill (it answered with an error status)."""
        with self._state() as entry:
            if token in entry.get("hour", []):
                entry["hour"].remove(token)
            if entry.get("month") == _month(token) and entry.get("month_count", 0) > 0:
                entry["month_count"] -= 1

    def usage(self) -> dict[str, int]:
        now = self.clock()
        with self._state() as entry:
            self._prune(entry, now)
            return {"last_hour": len(entry["hour"]), "this_month": entry["month_count"]}
