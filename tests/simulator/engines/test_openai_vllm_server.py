"""OpenAICompatEngine against a real vLLM OpenAI server on loopback, serving the tiny model with
the in-process engine's arguments (conftest.py: one server and one engine for the package)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from serpsim_protocol.prompts import build_prompt
from serpsim_simulator.engines import PromptTooLong
from serpsim_simulator.engines.base import SamplingSettings, chat_messages
from serpsim_simulator.engines.openai_compat import OpenAICompatEngine
from serpsim_simulator.engines.vllm_local import VllmEngine
from serpsim_simulator.errors import InvalidParameter
from serpsim_simulator.settings import EngineSettings, SimulationSettings
from serpsim_simulator.simulation.simulate import SimRequest, Simulator

from .conftest import SERVED
from .searches import BATCH, alone

pytestmark = [pytest.mark.heavy, pytest.mark.asyncio(loop_scope="package")]


@pytest_asyncio.fixture(loop_scope="package")
async def openai_engine(vllm_server: str) -> AsyncIterator[OpenAICompatEngine]:
    eng = OpenAICompatEngine(EngineSettings(kind="openai", openai_urls=[vllm_server]))
    await eng.start()
    try:
        yield eng
    finally:
        await eng.aclose()


async def test_generates_through_real_vllm_server(openai_engine: OpenAICompatEngine, qwen_like_model: Path) -> None:
    from transformers import AutoTokenizer

    eng = openai_engine
    assert eng.ready() and eng.model_name == SERVED  # discovered from GET /v1/models
    prompts = [build_prompt(q, "noisy", "sft") for q in ("capital of france", "who wrote hamlet",
                                                          "tallest mountain", "speed of light")]
    settings = [SamplingSettings(temperature=0.8, max_tokens=64, seed=100 + i) for i in range(4)]
    first = await eng.generate(prompts, settings)
    again = await asyncio.gather(*(eng.generate([p], [s]) for p, s in zip(prompts, settings)))
    assert [c[0] for c in again] == first
    tok = AutoTokenizer.from_pretrained(qwen_like_model)
    for p, c in zip(prompts, first):
        # The server rendered exactly ZeroSearch's messages through the model's chat template.
        rendered = tok.apply_chat_template(chat_messages(p), tokenize=False, add_generation_prompt=True)
        assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
        assert 0 < c.completion_tokens <= 64 and c.text
    [greedy] = await eng.generate(prompts[:1], [SamplingSettings(temperature=0.0, max_tokens=64)])
    assert greedy.text.startswith("Doc 1:")


async def test_the_server_and_the_in_process_engine_write_the_same_documents(
    openai_engine: OpenAICompatEngine, vllm_engine: VllmEngine
) -> None:
    """The same seeded searches, with the service's own sampling (ZeroSearch's: temperature 0.8,
    up to 600 tokens), through `openai` and `vllm`. The model's generation_config.json asks for
    top_k 20 and repetition penalty 1.05: the server applies them unless told otherwise."""
    searches = BATCH[:6]
    sampling = SimulationSettings()
    assert await alone(openai_engine, searches, sampling) == await alone(vllm_engine, searches, sampling)


async def test_a_prompt_longer_than_the_servers_context_is_the_requests_fault(openai_engine: OpenAICompatEngine) -> None:
    long_prompt = build_prompt("word " * 5000, "useful", "sft")
    with pytest.raises(PromptTooLong):
        await openai_engine.generate([long_prompt], [SamplingSettings(max_tokens=8, seed=1)])
    with pytest.raises(InvalidParameter):  # a 400, as from the other engines
        await Simulator(openai_engine, SimulationSettings()).simulate([SimRequest(query="word " * 5000, seed=1)])
    assert openai_engine.ready()
