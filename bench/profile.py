"""What bounds benchmark 1: the /search route's CPU time per request, in process, by component.

`python -m bench profile` (not part of the default run). The apps of bench/apps.py are driven
through ASGI directly (no server, no network: those cost both sides the same), one request at a
time on one uvloop loop, each request a new search. CPU time is the loop thread's own
(`time.thread_time`), so the result cache's writer thread is left out, as it is off the loop.
Then a cProfile of the cache-on route, the functions with the most own time first.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import os
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REQUESTS = 3000
ROUNDS = 3
Call = Callable[[], Awaitable[None]]


def _caller(app: Any, state: dict[str, Any], counter: itertools.count[int]) -> Call:
    async def call() -> None:
        query = f"q=who+wrote+hamlet+p{next(counter)}&num=10&seed=7".encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/search.json", "raw_path": b"/search.json", "query_string": query, "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": dict(state),
        }
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"request failed: {status}")

    return call


async def _cpu_us(call: Call, n: int) -> float:
    for _ in range(n // 10):
        await call()
    started = time.thread_time()
    for _ in range(n):
        await call()
    return (time.thread_time() - started) / n * 1e6


async def _run() -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from .apps import bare_app, serpsim_app

    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_CACHE_PATH"] = str(Path(tmp) / "results.sqlite")
        os.environ["BENCH_CACHE"] = "1"
        cached = serpsim_app()
        os.environ["BENCH_CACHE"] = "0"
        uncached = serpsim_app()
        async with LifespanManager(cached) as on, LifespanManager(uncached) as off:
            calls = {"search, cache on (miss)": _caller(cached, dict(on._state), counter),
                     "search, cache off": _caller(uncached, dict(off._state), counter)}
            body_file = Path(tmp) / "body.json"
            sent: list[bytes] = []

            async def capture(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    sent.append(message["body"])

            scope = {"type": "http", "method": "GET", "path": "/search.json", "raw_path": b"/search.json",
                     "query_string": b"q=who+wrote+hamlet+p1000&num=10&seed=7", "root_path": "", "scheme": "http",
                     "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
                     "state": dict(off._state), "http_version": "1.1", "asgi": {"version": "3.0"}}

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            await uncached(scope, receive, capture)
            body_file.write_bytes(b"".join(sent))
            os.environ["BENCH_BODY"] = str(body_file)
            bare = bare_app()
            async with LifespanManager(bare) as b:
                calls["bare FastAPI endpoint"] = _caller(bare, dict(b._state), counter)
                best: dict[str, float] = {}
                for _ in range(ROUNDS):  # interleaved rounds, best of each: other jobs share the machine
                    for name, call in calls.items():
                        best[name] = min(best.get(name, float("inf")), await _cpu_us(call, REQUESTS))
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(REQUESTS):
                await calls["search, cache on (miss)"]()
            profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    rows = [{"app": name, "cpu_us_per_request": us} for name, us in best.items()]
    return {"name": "profile", "rows": rows, "cprofile_tottime_top30": out.getvalue()}


def run_profile() -> dict[str, Any]:
    import uvloop

    result: dict[str, Any] = uvloop.run(_run())
    return result
