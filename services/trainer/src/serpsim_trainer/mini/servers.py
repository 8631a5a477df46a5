"""The servers the miniature pipeline starts and stops itself, each on a free loopback port: the
simulator (`serpsim-simulator serve`, hosting the world's corpus and, when given a model, the
simulation) and vLLM's OpenAI server for a policy (what `serpsim-train collect` and `eval` call).

Each is a context manager yielding the base URL; the process (and, for vLLM, its engine-core
child: it gets its own session) is stopped on exit, even when the stage inside fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

CORPUS_BACKEND = "corpus"
SIMULATED_BACKEND = "simulated"


class ServerError(RuntimeError):
    """A server exited, or did not become ready in time (the message holds its log's tail)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(cmd: list[str], ready_url: str, log: Path, *, env: Mapping[str, str] | None = None,
          start_s: float = 300.0) -> Iterator[None]:
    """Run `cmd` in its own session, wait until `ready_url` answers 200, yield, then stop it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
    try:
        deadline = time.monotonic() + start_s
        while True:
            if proc.poll() is not None:
                raise ServerError(f"{cmd[2]} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"{cmd[2]} not ready in {start_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@contextmanager
def simulator(index: Path, log: Path, *, model: Path | None = None, torch_threads: int = 1,
              archive_size: int = 100_000) -> Iterator[str]:
    """`serpsim-simulator serve` hosting the world's corpus (backend `corpus`, BM25) and, with
    `model`, the simulation on the transformers engine (backend `simulated`, the default)."""
    backends: list[dict[str, object]] = [{"kind": "corpus", "name": CORPUS_BACKEND, "index": str(index)}]
    cmd = [sys.executable, "-m", "serpsim_simulator.cli", "serve", "--host", "127.0.0.1"]
    if model is not None:
        backends.insert(0, {"kind": "simulated", "name": SIMULATED_BACKEND})
        cmd += ["--engine", "transformers", "--model", str(model), "--device", "cpu"]
    port = free_port()
    cmd += ["--port", str(port)]
    env = {"SERPSIM_BACKENDS": json.dumps(backends), "SERPSIM_ENGINE__TORCH_THREADS": str(torch_threads),
           "SERPSIM_SEARCH_STORE_SIZE": str(archive_size)}
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, f"{url}/readyz", log, env=env, start_s=240):
        yield url


@contextmanager
def policy_server(model: Path, log: Path, *, name: str = "policy", max_model_len: int = 2048,
                  max_num_seqs: int = 16) -> Iterator[str]:
    """vLLM's OpenAI server for a policy directory (`--served-model-name name`)."""
    port = free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1", "--port", str(port),
           "--model", str(model), "--served-model-name", name, "--max-model-len", str(max_model_len),
           "--max-num-seqs", str(max_num_seqs)]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, f"{url}/health", log, env={"VLLM_CPU_KVCACHE_SPACE": "1"}, start_s=420):
        yield url
