"""Benchmark 2: dynamic batching in the transformers engine on the tiny model.

64 searches (one generation each) sent 16 at a time against the same 64 one at a time.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from serpsim_simulator.engines import build_engine
from serpsim_simulator.settings import EngineSettings, SimulationSettings
from serpsim_simulator.simulation.simulate import SimRequest, Simulator

SEARCHES = 64
CONCURRENCY = 16
MAX_TOKENS = 64  # fixed and short: the tiny model on two CPU cores, both sides alike


def _model_dir() -> Path:
    return Path(os.environ.get("SERPSIM_TINY_MODEL", ".cache/test-models/tiny-sim"))


async def _run() -> dict[str, Any]:
    # One torch thread (both sides alike): a ~1M-parameter model's matrices are too small to split,
    # and on a 2-core machine shared with other jobs two OpenMP threads spin-waiting on each
    # other made each decode step ~30x slower.
    engine = build_engine(EngineSettings(kind="transformers", model=str(_model_dir()), device="cpu", torch_threads=1))
    await engine.start()
    sim = Simulator(engine, SimulationSettings(max_tokens=MAX_TOKENS, temperature=0.8))
    requests = [SimRequest(query=f"search number {i} about rivers", num=5, seed=i) for i in range(SEARCHES)]
    try:
        await sim.simulate(requests[:1])  # warm-up
        started = time.perf_counter()
        for r in requests:
            await sim.simulate([r])
        serial_s = time.perf_counter() - started

        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(r: SimRequest) -> None:
            async with gate:
                await sim.simulate([r])

        before = engine.stats()  # type: ignore[attr-defined]
        started = time.perf_counter()
        await asyncio.gather(*(one(r) for r in requests))
        concurrent_s = time.perf_counter() - started
        after = engine.stats()  # type: ignore[attr-defined]
    finally:
        await engine.aclose()
    speedup = serial_s / concurrent_s
    batches = after.batches - before.batches
    return {
        "name": "batching",
        "rows": [{
            "searches": SEARCHES, "max_tokens": MAX_TOKENS,
            "serial_searches_per_s": SEARCHES / serial_s, "c16_searches_per_s": SEARCHES / concurrent_s,
            "speedup": speedup,
            # how the c=16 phase was batched: few, full batches mean little time lost waiting
            "c16_batches": batches, "c16_mean_batch": (after.rows - before.rows) / max(1, batches),
        }],
        "targets": {"speedup>=4": speedup >= 4.0},
    }


def run_batching() -> dict[str, Any]:
    return asyncio.run(_run())
