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

from serpsim_simulator.errors import Overloaded, RateLimited
from serpsim_simulator.security import OUT_OF_SEARCHES, THROUGHPUT_EXCEEDED
from serpsim_simulator.shared_state.archive import SharedSearchArchive
from serpsim_simulator.shared_state.client import SharedRedis
from serpsim_simulator.shared_state.limits import SharedRateLimiter
from serpsim_simulator.shared_state.settings import SharedStateSettings
from serpsim_simulator.shared_state.spend import SpendCap
from serpsim_simulator.shared_state.usage import SharedUsage

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
    """At each (frozen) time, once both processes are there: `per_phase` concurrent acquisitions."""

    async def run() -> dict[str, Any]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        now = [times[0]]
        limiter = SharedRateLimiter(shared, **limits, clock=lambda: now[0])
        phases = []
        try:
            for t in times:
                now[0] = t
                barrier.wait(timeout=30)
                phases.append(list(await asyncio.gather(*(_try(limiter.acquire("key:shared")) for _ in range(per_phase)))))
        finally:
            await shared.aclose()
        return {"phases": phases}

    _report(results, run)


def limiter_real_time(settings: dict[str, Any], limits: dict[str, Any], duration_s: float, batch: int,
                      barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """Redis's own clock: batches of concurrent acquisitions for `duration_s`, each outcome time-stamped."""

    async def run() -> dict[str, Any]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        limiter = SharedRateLimiter(shared, **limits)
        outcomes: list[tuple[float, float, str]] = []

        async def one() -> None:
            sent = time.time()
            kind, _ = await _try(limiter.acquire("key:shared"))
            outcomes.append((sent, time.time(), kind))

        barrier.wait(timeout=30)
        end = time.monotonic() + duration_s
        try:
            while time.monotonic() < end:
                await asyncio.gather(*(one() for _ in range(batch)))
                await asyncio.sleep(0.005)
        finally:
            await shared.aclose()
        return {"outcomes": outcomes}

    _report(results, run)


def usage_and_archive(settings: dict[str, Any], name: str, other: str, searches: int,
                      barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """Record `searches` concurrently and archive one search; then, once both have, read everything back."""

    async def run() -> dict[str, Any]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        usage = SharedUsage(shared)
        archive = SharedSearchArchive(shared, capacity=100, ttl_s=60)
        try:
            recorded = await asyncio.gather(*(
                usage.record("key:shared", searches=1, cache_hits=n % 2, prompt_tokens=10, completion_tokens=3, engine_seconds=0.25)
                for n in range(searches)
            ))
            await archive.put(f"search-{name}", {"search_metadata": {"id": f"search-{name}"}, "by": name})
            barrier.wait(timeout=30)
            mine, total = await usage.read("key:shared"), await usage.read(None)
            assert mine is not None and total is not None
            return {
                "recorded": all(recorded),
                "account": [mine.this_month.searches, mine.this_month.cache_hits, mine.this_month.prompt_tokens,
                            mine.this_month.completion_tokens, mine.this_month.engine_seconds, mine.last_hour_searches],
                "total_searches": total.this_month.searches,
                "other_search": await archive.get(f"search-{other}"),
            }
        finally:
            await shared.aclose()

    _report(results, run)


def spend_acquires(configs: list[tuple[dict[str, Any], int, int]], attempts: int,
                   barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """For each (settings, per hour, per month), once both processes are there: `attempts` concurrent acquisitions."""

    async def one_cap(settings: dict[str, Any], per_hour: int, per_month: int) -> dict[str, int]:
        shared = SharedRedis(SharedStateSettings.model_validate(settings))
        cap = SpendCap(shared, "serpapi", per_hour=per_hour, per_month=per_month)
        try:
            barrier.wait(timeout=30)
            outcomes = await asyncio.gather(*(_try(cap.acquire()) for _ in range(attempts)))
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
        limiter = SharedRateLimiter(shared, per_second=100_000, burst=100_000, per_hour=0)
        usage = SharedUsage(shared)
        archive = SharedSearchArchive(shared, capacity=1000, ttl_s=60)
        timeline: list[tuple[float, float, str, bool, bool]] = []
        unexpected: list[str] = []
        barrier.wait(timeout=30)
        start = time.monotonic()
        n = 0
        try:
            while time.monotonic() - start < duration_s:
                n += 1
                began = time.monotonic()
                kind, detail = await _try(limiter.acquire("key:shared"))
                if kind == "unexpected":
                    unexpected.append(str(detail))
                try:
                    recorded = await usage.record("key:shared", searches=1)
                    archived = await archive.put(f"{id(shared)}-{n}", {"n": n})
                    await archive.get(f"{id(shared)}-{n}")
                    await usage.read("key:shared")
                except Exception as exc:
                    unexpected.append(f"{type(exc).__name__}: {exc}")
                    recorded = archived = False
                timeline.append((began, time.monotonic(), kind, recorded, archived))
                await asyncio.sleep(0.002)
        finally:
            await shared.aclose()
        return {"timeline": timeline, "unexpected": unexpected, "unavailable": dict(shared.unavailable)}

    _report(results, run)
