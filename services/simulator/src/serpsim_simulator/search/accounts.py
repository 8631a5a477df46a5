"""Accounts: per identity, the work it was served and the work it may still ask for, in one table.

An identity is what `api/deps.identify` makes of a request: `key:<sha256 prefix>` for an API key,
however it was presented (`api_key`, `serp_api_key`, Bearer, X-API-KEY), or `ip:<address>` on an
open server when no key is sent. Keys themselves are never kept. The table holds at most
`limits.max_accounts` identities, the least recently seen dropped first, so an open server
cannot be made to grow it.

Everything counts the same unit, the search, as /account.json does: one per `/search` whatever
its `num`, one per query of a `/retrieve` batch, whichever backend answers it (a corpus or
SerpApi search is a search like a simulated one). `admit` runs before any work: it refuses a
request that causes more generations than `limits.max_generations` (400; only the simulation
generates), then debits the token bucket (searches per second) and the hourly quota (a sliding
hour in one-minute steps), or raises 429 with the seconds until the request would fit. A
request that no allowance could ever hold is a 400: waiting would never help, and a 429
invites retries forever. `record` adds a finished search's usage.

The search service holds `Accounts` through these three calls (`admit`, `record`, and
`usage`/`last_hour` for /account.json), so a shared implementation (Redis) replaces this
in-process table without touching the search path.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import InvalidParameter, RateLimited
from ..metrics import Metrics
from ..settings import LimitSettings
from .result import SearchResult

OUT_OF_SEARCHES = "Your account has run out of searches."
THROUGHPUT_EXCEEDED = "Your account has exceeded its throughput limit. Please slow down and retry shortly."
HOUR_S = 3600.0
STEP_S = 60.0
"""The hourly window moves in one-minute steps: at most 60 entries per identity, whatever the traffic."""


@dataclass
class UsageCounters:
    searches: int = 0
    cache_hits: int = 0
    generations: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0

    def add(self, result: SearchResult) -> None:
        self.searches += 1
        if result.cached:
            self.cache_hits += 1
            return
        usage = result.usage
        self.generations += usage.generations
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.engine_seconds += usage.engine_seconds


@dataclass
class _Account:
    tokens: float
    refilled: float
    usage: UsageCounters = field(default_factory=UsageCounters)
    steps: deque[list[float]] = field(default_factory=deque)
    """`[step start, searches]`, oldest first, within the last hour."""
    last_hour: int = 0

    def expire(self, now: float) -> None:
        while self.steps and self.steps[0][0] <= now - HOUR_S:
            self.last_hour -= int(self.steps.popleft()[1])

    def seconds_until_free(self, searches: int, now: float) -> float:
        """How long until `searches` more fit under a quota the window now exceeds by that many."""
        freed = 0
        for start, count in self.steps:
            freed += int(count)
            if freed >= searches:
                return start + HOUR_S - now
        return HOUR_S


class Accounts:
    def __init__(
        self,
        limits: LimitSettings,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = limits.rate_per_second
        self.burst = float(limits.rate_burst or max(1.0, limits.rate_per_second))
        self.per_hour = limits.rate_per_hour
        self.max_generations = limits.max_generations
        self.max_accounts = limits.max_accounts
        self.metrics = metrics if metrics is not None else Metrics()
        self.clock = clock
        self.total = UsageCounters()
        self._table: OrderedDict[str, _Account] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def identities(self) -> Iterator[str]:
        return iter(self._table)

    def _account(self, identity: str, now: float) -> _Account:
        account = self._table.get(identity)
        if account is None:
            account = self._table[identity] = _Account(tokens=self.burst, refilled=now)
            if len(self._table) > self.max_accounts:
                self._table.popitem(last=False)
        else:
            self._table.move_to_end(identity)
        return account

    def admit(self, identity: str, searches: int, generations: int) -> None:
        """Check and debit one request's work (`searches`, and the most `generations` it may
        cause), before any of it is done."""
        if generations > self.max_generations:
            raise InvalidParameter(
                f"This request needs up to {generations} generations (one per five documents of each simulated "
                f"query, and one more for a query mixing noise); at most {self.max_generations} per request. "
                "Send fewer queries or ask for fewer documents."
            )
        self.charge(identity, searches)

    def charge(self, identity: str, searches: int) -> None:
        """Debit `searches` from the identity's allowances, or raise (nothing debited)."""
        if self.per_second and searches > self.burst:
            raise InvalidParameter(
                f"This request is {searches} searches; at most {int(self.burst)} fit the rate limit at once. "
                "Send fewer queries per request."
            )
        if self.per_hour and searches > self.per_hour:
            raise InvalidParameter(
                f"This request is {searches} searches; the hourly quota is {self.per_hour}. Send fewer queries per request."
            )
        now = self.clock()
        account = self._account(identity, now)
        account.expire(now)
        if self.per_hour and account.last_hour + searches > self.per_hour:
            wait = account.seconds_until_free(account.last_hour + searches - self.per_hour, now)
            self._reject(OUT_OF_SEARCHES, wait)
        if self.per_second:
            account.tokens = min(self.burst, account.tokens + (now - account.refilled) * self.per_second)
            account.refilled = now
            if account.tokens < searches:
                self._reject(THROUGHPUT_EXCEEDED, (searches - account.tokens) / self.per_second)
            account.tokens -= searches
        step = math.floor(now / STEP_S) * STEP_S
        if account.steps and account.steps[-1][0] == step:
            account.steps[-1][1] += searches
        else:
            account.steps.append([step, searches])
        account.last_hour += searches

    @staticmethod
    def _reject(message: str, wait_s: float) -> None:
        raise RateLimited(message, headers={"Retry-After": str(max(1, math.ceil(wait_s)))})

    def record(self, identity: str, result: SearchResult) -> None:
        """One finished search: its identity's usage, the totals and the Prometheus counters."""
        self.total.add(result)
        self._account(identity, self.clock()).usage.add(result)
        usage, query = result.usage, result.query
        quality = "none" if result.kind != "simulated" else "mixed" if query.mixes_noise else query.quality or "useful"
        self.metrics.observe_search(
            result.backend, quality, usage.prompt_tokens, usage.completion_tokens, usage.engine_seconds, result.cached
        )

    def usage(self, identity: str) -> UsageCounters:
        account = self._table.get(identity)
        return account.usage if account is not None else UsageCounters()

    def last_hour(self, identity: str) -> int:
        """Searches admitted in the past hour: the number the hourly quota checks."""
        account = self._table.get(identity)
        if account is None:
            return 0
        account.expire(self.clock())
        return account.last_hour
