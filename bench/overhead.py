"""Benchmarks 1 and 4: the /search route's own cost, and a cache hit's latency.

`/search` with a zero-latency engine against a bare FastAPI endpoint returning a body of the
same size, both under uvicorn (one worker) on loopback, driven by wrk.
"""

from __future__ import annotations

import tempfile
from typing import Any

import httpx

from ._util import uvicorn_server, wrk

QUERY = "/search.json?q=who+wrote+hamlet&num=10&seed=7"


def _mean(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}


def _abba(sim_url: str, bare_url: str, connections: int, seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """Each side twice, in the order sim, bare, bare, sim, half the time each: other jobs on a
    shared machine change its speed during a run, and this order gives both sides the same share
    of any steady drift."""
    half = max(1.0, seconds / 2)
    s1 = wrk(sim_url, connections, half)
    b1 = wrk(bare_url, connections, half)
    b2 = wrk(bare_url, connections, half)
    s2 = wrk(sim_url, connections, half)
    return _mean([s1, s2]), _mean([b1, b2])


def run_overhead(seconds: float = 5.0, concurrency: tuple[int, ...] = (1, 16, 64)) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    sim_runs: dict[int, dict[str, float]] = {}
    bare_runs: dict[int, dict[str, float]] = {}
    with uvicorn_server("bench.apps:serpsim_app") as sim:
        body = httpx.get(sim + QUERY).content
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            f.write(body)
            f.flush()
            with uvicorn_server("bench.apps:bare_app", {"BENCH_BODY": f.name}) as bare:
                for c in concurrency:
                    sim_runs[c], bare_runs[c] = _abba(sim + QUERY, bare + QUERY, c, seconds)
    for c in concurrency:
        s, b = sim_runs[c], bare_runs[c]
        rows.append({
            "concurrency": c, "search_rps": s["rps"], "bare_rps": b["rps"], "rps_ratio": s["rps"] / b["rps"],
            "search_p50_ms": s["p50_ms"], "bare_p50_ms": b["p50_ms"], "p50_diff_ms": s["p50_ms"] - b["p50_ms"],
            "non_2xx": s["non_2xx"] + b["non_2xx"],
        })
    by_c = {r["concurrency"]: r for r in rows}
    targets = {}
    if 64 in by_c:
        targets["c64_rps_ratio>=0.5"] = by_c[64]["rps_ratio"] >= 0.5
    if 1 in by_c:
        targets["c1_p50_diff_ms<=2"] = by_c[1]["p50_diff_ms"] <= 2.0
    return {"name": "overhead", "body_bytes": len(body), "rows": rows, "targets": targets}


def run_cache_hit(seconds: float = 5.0) -> dict[str, Any]:
    with uvicorn_server("bench.apps:serpsim_app", {"BENCH_CACHE": "1"}) as sim:
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
