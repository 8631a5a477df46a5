"""vLLM for the heavy engine tests, started once for the whole `engines` package: the in-process
engine and an OpenAI server, both on one copy of the tiny model, with the same engine arguments.

The copy carries Qwen2.5's `generation_config.json` sampling defaults (top_k 20, repetition
penalty 1.05): a vLLM server applies them to every request that leaves those fields out, the
in-process engines never do, so a test on this copy sees whether the engines sample alike.
vLLM is imported at the top: where it is missing, these tests fail (CI installs it).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import vllm  # noqa: F401  (a missing vLLM fails here, loudly, instead of skipping)
from serpsim_simulator.engines.vllm_local import VllmEngine, engine_arguments
from serpsim_simulator.settings import EngineSettings

from ...conftest import vllm_flags, vllm_openai_server

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
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with vllm_openai_server(vllm_flags(arguments), log, KVCACHE_GIB, SERVER_START_S) as url:
        yield f"{url}/v1"
