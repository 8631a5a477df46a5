"""What each OS process runs in the cross-process tests (spawned: a fresh interpreter, its own client).

Each function runs its own event loop and puts one result dict on `results`.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from serpsim_simulator.errors import Overloaded, RateLimited, StoreUnavailable
from serpsim_simulator.search.accounts import OUT_OF_SEARCHES, THROUGHPUT_EXCEEDED, Accounts, UsageCounters
from serpsim_simulator.settings import LimitSettings, SharedStateSettings
from serpsim_simulator.shared_state.accounts import RedisAccountStore
from serpsim_simulator.shared_state.archive import RedisArchive
from serpsim_simulator.shared_state.client import SharedRedis
from serpsim_simulator.shared_state.spend import RedisSpendCap

REASONS = {OUT_OF_SEARCHES: "quota", THROUGHPUT_EXCEEDED: "throughput"}


def _report(results: Queue[dict[str, Any]], run: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """Put what `run` returns on `results`, or the traceback that stopped it (the test shows it)."""
    try:
        results.put(asyncio.run(run()))
    except BaseException:
        results.put({"error": traceback.format_exc()})
        raise


async def _try(call: Any) -> tuple[str, str | None]:
    """`("ok", None)`, `("quota" | "throughput" | "cap", Retry-After)`, `("unavailable", Retry-After)`
    or `("unexpected", the exception's type)`: a worker never dies of an exception, it reports it."""
    try:
        await call
        return "ok", None
    except RateLimited as exc:
        return REASONS.get(exc.message, "cap"), (exc.headers or {}).get("Retry-After")
    except Overloaded as exc:
        return "unavailable", (exc.headers or {}).get("Retry-After")
    except Exception as exc:
        return "unexpected", f"{type(exc).__name__}: {exc}"


def limiter_phases(settings: dict[str, Any], limits: dict[str, Any], times: list[float], per_phase: int,
                   barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """At each (frozen) time, once both processes are there: `per_phase` concurrent charges of one search."""

    async def run() -> dict[str, Any]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        now = [times[0]]
        accounts = Accounts(LimitSettings(**limits), store=RedisAccountStore(shared, 600, clock=lambda: now[0]))
        phases = []
        try:
            for t in times:
                now[0] = t
                barrier.wait(timeout=30)
                phases.append(list(await asyncio.gather(*(_try(accounts.charge("key:shared", 1)) for _ in range(per_phase)))))
        finally:
            await shared.aclose()
        return {"phases": phases}

    _report(results, run)


def usage_and_archive(settings: dict[str, Any], name: str, other: str, searches: int,
                      barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """Record `searches` concurrently and archive one search; then, once both have, read everything back."""

    async def run() -> dict[str, Any]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        store = RedisAccountStore(shared, 600)
        archive = RedisArchive(shared, capacity=100, ttl_s=60)
        try:
            await asyncio.gather(*(
                store.record("key:shared", UsageCounters(searches=1, cache_hits=n % 2, generations=2, prompt_tokens=10,
                                                         completion_tokens=3, engine_seconds=0.25))
                for n in range(searches)
            ))
            await archive.put(f"search-{name}", {"search_metadata": {"id": f"search-{name}"}, "by": name})
            barrier.wait(timeout=30)
            usage, _ = await store.report("key:shared")
            return {"account": usage.__dict__, "other_search": await archive.get(f"search-{other}")}
        finally:
            await shared.aclose()

    _report(results, run)


def spend_reserves(configs: list[tuple[dict[str, Any], int, int]], attempts: int,
                   barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """For each (settings, per hour, per month), once both processes are there: `attempts` concurrent reservations."""

    async def one_cap(settings: dict[str, Any], per_hour: int, per_month: int) -> dict[str, int]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        cap = RedisSpendCap(shared, "serpapi", per_hour=per_hour, per_month=per_month)
        try:
            barrier.wait(timeout=30)
            outcomes = await asyncio.gather(*(_try(cap.reserve()) for _ in range(attempts)))
        finally:
            await shared.aclose()
        return dict(Counter(kind for kind, _ in outcomes))

    async def run() -> dict[str, Any]:
        return {"outcomes": [await one_cap(*config) for config in configs]}

    _report(results, run)


def through_an_outage(settings: dict[str, Any], duration_s: float, barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """Limits, usage and the archive in a loop while the test kills and restarts Redis.

    Steps are stamped with `time.monotonic()`, one clock for every process on the machine."""

    async def run() -> dict[str, Any]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        store = RedisAccountStore(shared, 600)
        accounts = Accounts(LimitSettings(rate_per_second=100_000, rate_burst=100_000), store=store)
        archive = RedisArchive(shared, capacity=1000, ttl_s=60)
        timeline: list[tuple[float, float, str, bool, bool]] = []
        unexpected: list[str] = []
        barrier.wait(timeout=30)
        start = time.monotonic()
        n = 0
        try:
            while time.monotonic() - start < duration_s:
                n += 1
                began = time.monotonic()
                kind, detail = await _try(accounts.charge("key:shared", 1))
                if kind == "unexpected":
                    unexpected.append(str(detail))
                recorded = archived = True
                try:
                    await store.record("key:shared", UsageCounters(searches=1))
                except StoreUnavailable:
                    recorded = False
                try:
                    await archive.put(f"{id(shared)}-{n}", {"n": n})
                except StoreUnavailable:
                    archived = False
                timeline.append((began, time.monotonic(), kind, recorded, archived))
                await asyncio.sleep(0.002)
        finally:
            await shared.aclose()
        return {"timeline": timeline, "unexpected": unexpected, "unavailable": dict(shared.unavailable)}

    _report(results, run)
