"""Trainer test fixtures: a live simulator over HTTP (the real `serpsim-simulator serve` with the
tiny model), and search-tool YAML files pointing at it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request  # module level: FastAPI resolves the string annotations here
from fastapi.responses import JSONResponse

CONFIGS = Path(__file__).resolve().parents[2] / "services" / "trainer" / "src" / "serpsim_trainer" / "configs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_simulator(model_dir: Path, log: Path) -> Iterator[str]:
    """`serpsim-simulator serve --engine transformers --model <dir>` on a free loopback port, until exit."""
    from serpsim_trainer.mini.servers import free_port, serve

    port = free_port()
    cmd = [
        sys.executable, "-m", "serpsim_simulator.cli", "serve", "--engine", "transformers",
        "--model", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
    ]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, f"{url}/readyz", log, start_s=180):
        yield url


@pytest.fixture(scope="session")
def tiny_policy_dir() -> Path:
    """The warm-started tiny policy (`serpsim_trainer.tiny_policy`), built once and cached beside the
    other test models."""
    from serpsim_trainer.tiny_policy import build_tiny_policy

    from ..conftest import CACHE, _build_lock

    out = CACHE / "tiny-policy"
    with _build_lock("tiny-policy"):
        if not (out / "config.json").exists():
            build_tiny_policy(out)
    return out


@pytest.fixture(scope="session")
def mini_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`serpsim-train mini-run --profile ci` (what `make mini` runs, reduced): the CI world, its
    policy's warm-up, the simulation LLM tuned from that policy, one GRPO arm of two steps against
    the simulator, and arms a, b, c evaluated against the corpus. One verl launch, shared by
    tests/trainer/mini/test_mini_run.py and test_rl_cpu_training.py."""
    out = tmp_path_factory.mktemp("mini") / "run"
    log = out.parent / "mini-run.log"
    cmd = [sys.executable, "-m", "serpsim_trainer.cli", "mini-run", str(out), "--profile", "ci", "--seeds", "1"]
    with log.open("wb") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=2400, check=False).returncode
    if rc != 0:
        pytest.fail(f"mini-run exited with {rc}:\n{log.read_text(errors='replace')[-6000:]}")
    return out


@pytest.fixture(scope="session")
def live_simulator(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One simulator shared by the trainer tests that only read what it returns."""
    with serve_simulator(tiny_model_dir, tmp_path_factory.mktemp("simulator") / "serve.log") as url:
        yield url


def write_tool_config(path: Path, **overrides: object) -> Path:
    """configs/search_tool.yaml with its `config` block (and `agent` block) overridden."""
    data = yaml.safe_load((CONFIGS / "search_tool.yaml").read_text())
    config = data["tools"][0]["config"]
    agent = dict(config.get("agent", {}))
    agent.update(overrides.pop("agent", {}))  # type: ignore[arg-type]
    config.update(overrides)
    config["agent"] = agent
    path.write_text(yaml.safe_dump(data))
    return path


@contextmanager
def serve_app(app: object) -> Iterator[str]:
    """An ASGI app over real HTTP (uvicorn in a thread) on a free loopback port, until exit."""
    import threading

    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


ONE_SIMULATION = {"backends": [{"name": "simulated", "kind": "simulated", "default": True, "status": "ready"}]}
"""`GET /backends` of a simulator hosting only the simulation (the default server)."""


def answering_backends(handler: Any, catalogue: dict[str, Any] = ONE_SIMULATION) -> Any:
    """A MockTransport handler that answers `GET /backends` itself and passes the rest to `handler`,
    so `Searcher`'s one catalogue lookup does not reach a handler written for searches."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/backends":
            return httpx.Response(200, json=catalogue)
        return handler(request)  # type: ignore[no-any-return]

    return route


FAIL_MARK = "FAIL"
"""A query containing this word makes the fake SerpApi upstream answer 503."""


def fake_serpapi_documents(q: str) -> list[str]:
    """The five snippets the fake SerpApi upstream returns for query `q` (deterministic)."""
    return [f"{q} fact number {k}." for k in range(1, 6)]


def fake_serpapi_app(requests: list[dict[str, str]]) -> object:
    """A fake SerpApi upstream (the standards' named double for a paid API): `GET /search.json`
    answers five organic results, or 503 for a query containing `FAIL_MARK`; records every request."""
    app = FastAPI()

    @app.get("/search.json")
    async def search(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        requests.append(params)
        q = params.get("q", "")
        if FAIL_MARK in q:
            return JSONResponse({"error": "upstream overloaded (injected)"}, status_code=503)
        results = [{"position": k, "title": f"Title {k} of {q}", "link": f"https://e.x/{k}", "snippet": text}
                   for k, text in enumerate(fake_serpapi_documents(q), start=1)]
        return JSONResponse({"search_metadata": {"id": f"s-{len(requests)}", "status": "Success"},
                             "organic_results": results})

    return app


@pytest.fixture
def fake_serpapi() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """(base URL, recorded request parameters) of a fake SerpApi upstream."""
    requests: list[dict[str, str]] = []
    with serve_app(fake_serpapi_app(requests)) as url:
        yield url, requests
