"""Two OS processes sharing one identity through one real Redis: limits hold exactly across both."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ..redis_server import RedisServer
from . import workers
from .conftest import state_settings

pytestmark = pytest.mark.heavy  # spawns processes

SPAWN = multiprocessing.get_context("spawn")
LIMITS = {"rate_per_second": 20, "rate_burst": 20, "rate_per_hour": 100}


def settings_for(url: str, **overrides: object) -> dict[str, Any]:
    return state_settings(url, **overrides).model_dump()


@contextmanager
def two_processes(target: Callable[..., None], args: list[tuple[Any, ...]], parties: int = 2) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """Start one process per argument tuple (each gets a barrier and a result queue appended);
    yield the barrier (for a test that takes part too) and, after the block, their results."""
    barrier = SPAWN.Barrier(parties)
    results: Any = SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(*a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    collected: list[dict[str, Any]] = []
    try:
        yield barrier, collected
        collected.extend(results.get(timeout=60) for _ in procs)
        errors = [r["error"] for r in collected if "error" in r]
        assert not errors, "\n".join(errors)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]


def test_frozen_clock_phases_admit_exactly_the_bucket_and_the_quota(redis_server: RedisServer) -> None:
    """20/s, burst 20, 100/hour; 2 processes x 30 concurrent acquisitions at each of 11 instants 0.5 s apart.

    Expected, whoever wins each race: 20 at t0 (the burst), 10 per half second after (the refill)
    until the quota's 100, then none; every refusal is the throughput one until the hour is full.
    The hour moves in one-minute steps: its first step (t0 rounded down to the minute, 40 s
    before t0) frees its searches 3560 s after t0.
    """
    settings = settings_for(redis_server.url)
    t0 = 1_000_000.0
    times = [t0 + 0.5 * k for k in range(11)]
    with two_processes(workers.limiter_phases, [(settings, LIMITS, times, 30)] * 2) as (_, results):
        pass
    per_phase = [Counter(kind for r in results for kind, _ in r["phases"][k]) for k in range(len(times))]
    assert [c["ok"] for c in per_phase] == [20, 10, 10, 10, 10, 10, 10, 10, 10, 0, 0]
    assert [c["throughput"] for c in per_phase] == [40, 50, 50, 50, 50, 50, 50, 50, 0, 0, 0]
    assert [c["quota"] for c in per_phase] == [0] * 8 + [50, 60, 60]
    assert all(c["unexpected"] == c["unavailable"] == 0 for c in per_phase)
    # Retry-After: a token is 0.05 s away (1 s, rounded up); the hour frees its first step at t0 + 3560.
    retry = {(kind, after) for r in results for phase in r["phases"] for kind, after in phase if kind != "ok"}
    assert retry == {("throughput", "1"), ("quota", "3556"), ("quota", "3555")}
    # Both processes got some of the admissions (they really raced for one bucket).
    assert all(sum(kind == "ok" for phase in r["phases"] for kind, _ in phase) > 0 for r in results)


def test_usage_and_archive_are_seen_from_both_processes(redis_server: RedisServer) -> None:
    settings = settings_for(redis_server.url)
    args = [(settings, "a", "b", 300), (settings, "b", "a", 300)]
    with two_processes(workers.usage_and_archive, args) as (_, results):
        pass
    by_name = {r["other_search"]["by"]: r for r in results}
    assert set(by_name) == {"a", "b"}  # each fetched the search the other one archived
    for r in results:
        assert r["account"] == {"searches": 600, "cache_hits": 300, "generations": 1200, "prompt_tokens": 6000,
                                "completion_tokens": 1800, "engine_seconds": 150.0}


def test_spend_cap_holds_across_processes(redis_server: RedisServer) -> None:
    """2 processes x 60 concurrent searches against caps per hour, per month, and both."""
    caps = [(50, 1000), (1000, 70), (40, 30)]
    configs = [(settings_for(redis_server.url), per_hour, per_month) for per_hour, per_month in caps]
    with two_processes(workers.spend_reserves, [(configs, 60)] * 2) as (_, results):
        pass
    for n, admitted in enumerate((50, 70, 30)):
        kinds: Counter[str] = Counter()
        for r in results:
            kinds.update(r["outcomes"][n])
        assert kinds == {"ok": admitted, "cap": 120 - admitted}, (caps[n], kinds)


def test_redis_killed_mid_run_fails_closed_then_resumes(own_redis: RedisServer) -> None:
    """Both processes keep going through a kill and a restart: refusals (503) during the outage,
    never an unexpected exception, every degraded operation counted, admissions again after."""
    settings = settings_for(own_redis.url, retry_interval_s=0.05, error_log_interval_s=60)
    with two_processes(workers.through_an_outage, [(settings, 2.4)] * 2, parties=3) as (barrier, results):
        barrier.wait(timeout=60)
        time.sleep(0.6)
        killing = time.monotonic()
        own_redis.kill()
        killed = time.monotonic()
        time.sleep(0.7)
        restarting = time.monotonic()
        own_redis.start()
        restarted = time.monotonic()
    for r in results:
        assert r["unexpected"] == []
        # Each step: (began, ended, the limiter's answer, usage recorded, search archived); times are
        # time.monotonic(), the same clock in every process.
        timeline = r["timeline"]
        before = [t[2:] for t in timeline if t[1] < killing]
        during = [t[2:] for t in timeline if t[0] > killed and t[1] < restarting]
        after = [t[2:] for t in timeline if t[0] > restarted + 0.1]
        assert before and during and after
        assert set(before) == {("ok", True, True)}, Counter(before)
        assert set(during) == {("unavailable", False, False)}, Counter(during)
        assert set(after) == {("ok", True, True)}, Counter(after)
        counted = r["unavailable"]
        assert min(counted[op] for op in ("accounts.charge", "accounts.record", "archive.put")) >= len(during)
