"""Fault injection under bounded concurrent load, on a real uvicorn server on loopback.

`FaultyEngine` misbehaves as each query's `[fault:...]` marker says, so the test knows exactly
what it injected and checks that every request got a well-formed answer within its deadline,
that the server stayed up, and that /metrics counted each failure. The figures are logged and
attached to the junit report as properties.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable

import httpx
from serpsim_simulator.app import create_app

from .conftest import make_settings
from .fakes import FAULTS, FaultyEngine
from .live import LiveServer
from .test_reliability import metric

logger = logging.getLogger(__name__)

REQUESTS = 400
CONCURRENCY = 32
# Far above the slow fault's 0.1 s: on a loaded 2-core box, queueing alone once pushed a slow
# answer past a 0.5 s deadline. Hung generations still end here, at the deadline.
DEADLINE_S = 2.0
SLACK_S = 2.0  # client and server share one process and a loaded 2-core box; the guard answers at the deadline
WALL_BOUND_S = 60.0

# What each fault must become (status, on SerpApi routes and on /retrieve alike).
EXPECTED = {
    "ok": 200, "slow": 200, "garbage_text": 200,  # no parseable docs: SerpApi's empty-results 200
    "raise": 503, "crash": 502, "wrong_count": 502, "wrong_type": 502, "hang": 504,
}


async def _one(
    c: httpx.AsyncClient, gate: asyncio.Semaphore, i: int, fault: str, route: str
) -> tuple[str, str, int, float, dict[str, object]]:
    q = f"load {i} [fault:{fault}]"
    async with gate:  # at most CONCURRENCY open requests; the clock starts when this one is sent
        started = time.monotonic()
        if route == "search":
            r = await c.get("/search.json", params={"q": q, "num": 5, "timeout": DEADLINE_S})
        else:
            r = await c.post("/retrieve", json={"queries": [q]}, headers={"X-Timeout": str(DEADLINE_S)})
        elapsed = time.monotonic() - started
    body = r.json()  # every answer is JSON, whatever went wrong
    assert isinstance(body, dict)
    return fault, route, r.status_code, elapsed, body


async def _load(url: str, plan: list[tuple[str, str]]) -> list[tuple[str, str, int, float, dict[str, object]]]:
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as c:
        return await asyncio.gather(*(_one(c, gate, i, f, r) for i, (f, r) in enumerate(plan)))


def test_faults_under_load(record_property: Callable[[str, object], None]) -> None:
    rng = random.Random(5)
    plan = [(rng.choice(FAULTS), rng.choice(("search", "retrieve"))) for _ in range(REQUESTS)]
    engine = FaultyEngine(slow_s=0.1)
    # in-flight and queue big enough that nothing is refused: every fault reaches the engine
    settings = make_settings(limits={"max_in_flight": 128, "max_queue": 512}, cache={"enabled": False})
    with LiveServer(create_app(settings, engine=engine)) as url:
        started = time.monotonic()
        results = asyncio.run(_load(url, plan))
        wall = time.monotonic() - started
        metrics_text = httpx.get(f"{url}/metrics").text
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200
        after = httpx.get(f"{url}/search.json", params={"q": "still serving", "num": 5})
        assert after.status_code == 200 and len(after.json()["organic_results"]) == 5

    assert wall < WALL_BOUND_S
    statuses: Counter[int] = Counter()
    worst_past_deadline = 0.0
    for fault, route, status, elapsed, body in results:
        statuses[status] += 1
        assert status == EXPECTED[fault], (fault, route, status, body)
        if status != 200:
            key = "detail" if route == "retrieve" else "error"
            assert isinstance(body.get(key), str) and body[key], body
        elif route == "search":
            assert "search_metadata" in body
        else:
            assert "result" in body
        worst_past_deadline = max(worst_past_deadline, elapsed - DEADLINE_S)
    assert worst_past_deadline <= SLACK_S

    injected = Counter(fault for fault, _ in plan)
    assert engine.injected == {f: injected[f] + (f == "ok") for f in FAULTS}  # + the "still serving" search
    assert engine.cancelled == injected["hang"]  # every hung generation was cancelled at its deadline
    assert metric(metrics_text, "serpsim_engine_failures_total", 'kind="error"') == injected["raise"]
    bad = injected["crash"] + injected["wrong_count"] + injected["wrong_type"]
    assert metric(metrics_text, "serpsim_engine_failures_total", 'kind="bad_output"') == bad
    assert metric(metrics_text, "serpsim_deadline_exceeded_total") == injected["hang"]
    for status in (502, 503, 504):
        assert metric(metrics_text, "serpsim_errors_total", f'status="{status}"') == statuses[status]
    assert metric(metrics_text, "serpsim_requests_in_flight") == 1  # only the /metrics request itself

    faults = REQUESTS - injected["ok"]
    figures = {
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "faults_injected": faults,
        "faults_by_kind": dict(sorted(injected.items())),
        "statuses": dict(sorted(statuses.items())),
        "failures_observed": sum(n for s, n in statuses.items() if s >= 500),
        "malformed_answers": 0,
        "worst_latency_past_deadline_s": round(max(0.0, worst_past_deadline), 4),
        "wall_s": round(wall, 2),
    }
    for name, value in figures.items():
        record_property(name, value)
    logger.warning("fault-injection figures: %s", figures)
