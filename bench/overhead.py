"""Benchmarks 1 and 4: the /search route's own cost, and a cache hit's latency.

`/search` with a zero-latency engine against a bare FastAPI endpoint returning a body of the
same size, both under uvicorn (one worker, the same settings) on loopback, driven by wrk.

The simulator runs as configured by default, result cache on (a SQLite file, here in a
temporary directory), and every request is a new search (wrk appends a counter to `q`), so each
pays the full miss path: cache lookup, engine call, parsing, response, cache write. A fixed
query would be answered from the cache after the first request and measure benchmark 4 instead.
One more row at c=64 with the cache off shows what the cache's reads and writes cost.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import httpx

from ._util import uvicorn_server, wrk

QUERY = "/search.json?q=who+wrote+hamlet&num=10&seed=7"


def _mean(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}


def _abba(
    sim_url: str, bare_url: str, connections: int, seconds: float, tags: itertools.count[int]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each side twice, in the order sim, bare, bare, sim, half the time each: other jobs on a
    shared machine change its speed during a run, and this order gives both sides the same share
    of any steady drift. Both sides get the same unique-query requests."""
    half = max(1.0, seconds / 2)
    s1 = wrk(sim_url, connections, half, unique=f"r{next(tags)}")
    b1 = wrk(bare_url, connections, half, unique=f"r{next(tags)}")
    b2 = wrk(bare_url, connections, half, unique=f"r{next(tags)}")
    s2 = wrk(sim_url, connections, half, unique=f"r{next(tags)}")
    return _mean([s1, s2]), _mean([b1, b2])


def _row(c: int, cache: str, s: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    return {
        "concurrency": c, "cache": cache, "search_rps": s["rps"], "bare_rps": b["rps"], "rps_ratio": s["rps"] / b["rps"],
        "search_p50_ms": s["p50_ms"], "bare_p50_ms": b["p50_ms"], "p50_diff_ms": s["p50_ms"] - b["p50_ms"],
        "non_2xx": s["non_2xx"] + b["non_2xx"],
    }


def run_overhead(seconds: float = 5.0, concurrency: tuple[int, ...] = (1, 16, 64)) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    tags = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        cache_env = {"BENCH_CACHE_PATH": str(Path(tmp) / "results.sqlite")}
        with uvicorn_server("bench.apps:serpsim_app", cache_env) as sim, \
                uvicorn_server("bench.apps:serpsim_app", {"BENCH_CACHE": "0"}) as sim_nocache:
            # The body the bare endpoint returns: a search with a `q` as long as wrk's unique ones.
            body = httpx.get(sim + QUERY.replace("hamlet", "hamlet+r9-10000")).content
            body_file = Path(tmp) / "body.json"
            body_file.write_bytes(body)
            with uvicorn_server("bench.apps:bare_app", {"BENCH_BODY": str(body_file)}) as bare:
                for c in concurrency:
                    rows.append(_row(c, "miss", *_abba(sim + QUERY, bare + QUERY, c, seconds, tags)))
                if 64 in concurrency:
                    rows.append(_row(64, "off", *_abba(sim_nocache + QUERY, bare + QUERY, 64, seconds, tags)))
    by_c = {r["concurrency"]: r for r in rows if r["cache"] == "miss"}
    targets = {}
    if 64 in by_c:
        targets["c64_rps_ratio>=0.5"] = by_c[64]["rps_ratio"] >= 0.5
    if 1 in by_c:
        targets["c1_p50_diff_ms<=2"] = by_c[1]["p50_diff_ms"] <= 2.0
    return {"name": "overhead", "body_bytes": len(body), "rows": rows, "targets": targets}


def run_cache_hit(seconds: float = 5.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, \
            uvicorn_server("bench.apps:serpsim_app", {"BENCH_CACHE_PATH": str(Path(tmp) / "results.sqlite")}) as sim:
        first = httpx.get(sim + QUERY).json()
        hit = httpx.get(sim + QUERY).json()
        assert hit["search_metadata"].get("cached") is True, "second identical search was not a cache hit"
        run = wrk(sim + QUERY, 1, seconds)
        hits = httpx.get(sim + "/account.json").json()["cache_hits"]
    assert first["simulation"]["cached"] is False
    return {
        "name": "cache_hit",
        "rows": [{"concurrency": 1, "rps": run["rps"], "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"], "cache_hits": hits}],
        "targets": {"p50_ms<3": run["p50_ms"] < 3.0},
    }
