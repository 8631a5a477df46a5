"""The benchmarks' own machinery (bench/): they measure on a slow machine, and say so when they cannot."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from serpsim_simulator.app import create_app
from serpsim_simulator.engines.base import Completion, SamplingSettings

from .conftest import make_settings
from .fakes import FakeEngine
from .live import LiveServer

_NUMBER = re.compile(r"search number (\d+) ")


class UnevenEngine(FakeEngine):
    """Even-numbered searches take `slow_s`, odd ones answer at once: in each repetition of a
    benchmark, half its connections sit idle for `slow_s` before the next one."""

    def __init__(self, slow_s: float) -> None:
        super().__init__()
        self.slow_s = slow_s

    async def generate(self, prompts: Sequence[str], settings: Sequence[SamplingSettings]) -> list[Completion]:
        match = _NUMBER.search(prompts[0])
        if match and int(match.group(1)) % 2 == 0:
            await asyncio.sleep(self.slow_s)
        return await super().generate(prompts, settings)


def test_vllm_benchmark_client_survives_the_servers_keep_alive() -> None:
    """Benchmark 3's client keeps its connections between repetitions. On a 2-core machine one
    repetition outlasted uvicorn's 5 s keep-alive, the server closed the idle connections and the
    run died with IncompleteReadError (here: a 1 s keep-alive, repetitions of 1.5 s)."""
    from bench.vllm_engine import _timed_searches

    app = create_app(make_settings(), engine=UnevenEngine(slow_s=1.5))
    with LiveServer(app, keep_alive_s=1) as url:
        reps = asyncio.run(_timed_searches(url, searches=8, reps=2))
    assert len(reps) == 2 and all(tokens > 0 and seconds >= 1.5 for tokens, seconds in reps)


def test_a_benchmark_that_cannot_measure_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    import bench.__main__ as runner

    def broken() -> dict[str, Any]:
        raise RuntimeError("wrk is not installed")

    monkeypatch.setattr(runner, "RESULTS", tmp_path)
    monkeypatch.setitem(runner.BENCHMARKS, "cache", lambda args: broken())
    assert runner.main(["cache"]) == 0
    assert runner.main(["cache", "--strict"]) == 1
    out = capsys.readouterr().out
    assert "cache: not measured: RuntimeError: wrk is not installed" in out
    assert json.loads((tmp_path / "cache.json").read_text())["error"] == "RuntimeError: wrk is not installed"
