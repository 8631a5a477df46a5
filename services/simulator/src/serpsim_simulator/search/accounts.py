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

`Accounts` holds the rules (what is a 400, which 429 and its Retry-After, the metrics); the
state lives in an `AccountStore`: `MemoryAccountStore` here (one process: limits are per
process), or `shared_state.accounts.RedisAccountStore` (one Lua script does what `charge` does
here, atomically, so every worker and replica sharing the Redis admits exactly what one process
would). When the store cannot answer (`StoreUnavailable`), `limits_on_outage` decides: `closed`
(default) refuses with 503 and Retry-After, `open` admits; usage is then not recorded, and
/account.json answers 503. Either way the outage is counted and logged by the store's client.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal, NamedTuple, Protocol

from ..errors import InvalidParameter, Overloaded, RateLimited, StoreUnavailable
from ..metrics import Metrics
from ..settings import LimitSettings
from .result import SearchResult

OUT_OF_SEARCHES = "Your account has run out of searches."
THROUGHPUT_EXCEEDED = "Your account has exceeded its throughput limit. Please slow down and retry shortly."
LIMITS_UNAVAILABLE = "Rate limits cannot be checked right now. Please retry shortly."
USAGE_UNAVAILABLE = "Usage cannot be read right now. Please retry shortly."
HOUR_S = 3600.0
STEP_S = 60.0
"""The hourly window moves in one-minute steps: at most 60 entries per identity, whatever the traffic."""

OutagePolicy = Literal["closed", "open"]


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

    def merge(self, other: UsageCounters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


USAGE_FIELDS = tuple(f.name for f in fields(UsageCounters))


@dataclass(frozen=True)
class Allowance:
    """An identity's limits: `per_second` tokens refill a bucket of `burst`; `per_hour` searches
    in a sliding hour of one-minute steps. 0 turns a limit off."""

    per_second: float
    burst: float
    per_hour: int


class Verdict(NamedTuple):
    """A store's answer to `charge`: admitted (and debited), or which limit refused and for how long."""

    refused: Literal["", "quota", "throughput"]
    wait_s: float


ADMITTED = Verdict("", 0.0)


class AccountStore(Protocol):
    """Where the accounts' state lives. Any method may raise `StoreUnavailable`."""

    async def charge(self, identity: str, searches: int, allowance: Allowance) -> Verdict:
        """The hour first (refused: seconds until enough of its oldest steps leave it), then the
        bucket (refused: seconds until `searches` tokens refilled); admitted: both debited."""
        ...

    async def record(self, identity: str, usage: UsageCounters) -> None:
        """Add `usage` to the identity's counters and to the total."""
        ...

    async def report(self, identity: str) -> tuple[UsageCounters, int]:
        """The identity's counters and its searches admitted in the past hour."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class _Account:
    tokens: float | None = None
    """None: a full bucket (never charged)."""
    refilled: float = 0.0
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


class MemoryAccountStore:
    """One process's table: at most `max_accounts` identities, the least recently seen dropped first."""

    def __init__(self, max_accounts: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_accounts = max_accounts
        self.clock = clock
        self.total = UsageCounters()
        self._table: OrderedDict[str, _Account] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def identities(self) -> Iterator[str]:
        return iter(self._table)

    def _account(self, identity: str) -> _Account:
        account = self._table.get(identity)
        if account is None:
            account = self._table[identity] = _Account()
            if len(self._table) > self.max_accounts:
                self._table.popitem(last=False)
        else:
            self._table.move_to_end(identity)
        return account

    async def charge(self, identity: str, searches: int, allowance: Allowance) -> Verdict:
        now = self.clock()
        account = self._account(identity)
        account.expire(now)
        if allowance.per_hour and account.last_hour + searches > allowance.per_hour:
            return Verdict("quota", account.seconds_until_free(account.last_hour + searches - allowance.per_hour, now))
        if allowance.per_second:
            tokens = allowance.burst
            if account.tokens is not None:
                tokens = min(allowance.burst, account.tokens + (now - account.refilled) * allowance.per_second)
            account.tokens, account.refilled = tokens, now
            if tokens < searches:
                return Verdict("throughput", (searches - tokens) / allowance.per_second)
            account.tokens = tokens - searches
        step = math.floor(now / STEP_S) * STEP_S
        if account.steps and account.steps[-1][0] == step:
            account.steps[-1][1] += searches
        else:
            account.steps.append([step, searches])
        account.last_hour += searches
        return ADMITTED

    async def record(self, identity: str, usage: UsageCounters) -> None:
        self.total.merge(usage)
        self._account(identity).usage.merge(usage)

    async def report(self, identity: str) -> tuple[UsageCounters, int]:
        account = self._table.get(identity)
        if account is None:
            return UsageCounters(), 0
        account.expire(self.clock())
        return replace(account.usage), account.last_hour  # a copy: later searches must not change it

    async def aclose(self) -> None:
        return None


class Accounts:
    """The rules of admission and accounting, over a store (module docstring)."""

    def __init__(
        self,
        limits: LimitSettings,
        metrics: Metrics | None = None,
        store: AccountStore | None = None,
        *,
        on_outage: OutagePolicy = "closed",
        retry_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowance = Allowance(
            limits.rate_per_second, float(limits.rate_burst or max(1.0, limits.rate_per_second)), limits.rate_per_hour
        )
        self.max_generations = limits.max_generations
        self.metrics = metrics if metrics is not None else Metrics()
        self.store: AccountStore = store if store is not None else MemoryAccountStore(limits.max_accounts, clock)
        self.on_outage = on_outage
        self.retry_after_s = retry_after_s

    @property
    def limited(self) -> bool:
        return bool(self.allowance.per_second or self.allowance.per_hour)

    async def admit(self, identity: str, searches: int, generations: int) -> None:
        """Check and debit one request's work (`searches`, and the most `generations` it may
        cause), before any of it is done."""
        if generations > self.max_generations:
            raise InvalidParameter(
                f"This request needs up to {generations} generations (one per five documents of each simulated "
                f"query, and one more for a query mixing noise); at most {self.max_generations} per request. "
                "Send fewer queries or ask for fewer documents."
            )
        await self.charge(identity, searches)

    async def charge(self, identity: str, searches: int) -> None:
        """Debit `searches` from the identity's allowances, or raise (nothing debited)."""
        a = self.allowance
        if a.per_second and searches > a.burst:
            raise InvalidParameter(
                f"This request is {searches} searches; at most {int(a.burst)} fit the rate limit at once. "
                "Send fewer queries per request."
            )
        if a.per_hour and searches > a.per_hour:
            raise InvalidParameter(
                f"This request is {searches} searches; the hourly quota is {a.per_hour}. Send fewer queries per request."
            )
        try:
            verdict = await self.store.charge(identity, searches, a)
        except StoreUnavailable:
            if self.on_outage == "open" or not self.limited:
                return  # let through, never silently: the store's client counted and logged it
            raise Overloaded(LIMITS_UNAVAILABLE, headers=retry_after(self.retry_after_s)) from None
        if verdict.refused == "quota":
            raise RateLimited(OUT_OF_SEARCHES, headers=retry_after(verdict.wait_s))
        if verdict.refused == "throughput":
            raise RateLimited(THROUGHPUT_EXCEEDED, headers=retry_after(verdict.wait_s))

    async def record(self, identity: str, results: Sequence[SearchResult]) -> None:
        """One request's finished searches: its identity's usage, the totals and the Prometheus counters."""
        usage = UsageCounters()
        for result in results:
            usage.add(result)
            u, query = result.usage, result.query
            quality = "none" if result.kind != "simulated" else "mixed" if query.mixes_noise else query.quality or "useful"
            self.metrics.observe_search(
                result.backend, quality, u.prompt_tokens, u.completion_tokens, u.engine_seconds, result.cached
            )
        try:
            await self.store.record(identity, usage)
        except StoreUnavailable:
            pass  # served uncounted; the store's client counted and logged the skip

    async def report(self, identity: str) -> tuple[UsageCounters, int]:
        """The identity's usage and its searches in the past hour (the number the hourly quota
        checks); 503 when the store cannot answer."""
        try:
            return await self.store.report(identity)
        except StoreUnavailable:
            raise Overloaded(USAGE_UNAVAILABLE, headers=retry_after(self.retry_after_s)) from None

    async def aclose(self) -> None:
        await self.store.aclose()


def retry_after(wait_s: float) -> dict[str, str]:
    """Whole seconds, at least one, as SerpApi sends."""
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}
