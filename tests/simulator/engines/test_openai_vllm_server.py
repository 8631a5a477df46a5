"""OpenAICompatEngine against a real vLLM OpenAI server on loopback, serving the tiny model.

Heavy: the server takes ~45-60 s to become healthy on CPU. One server per module, killed (with
its engine-core child) when the module ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from serpsim_protocol.prompts import build_prompt
from serpsim_simulator.engines.base import SamplingSettings, chat_messages
from serpsim_simulator.engines.openai_compat import OpenAICompatEngine
from serpsim_simulator.settings import EngineSettings

from tests.conftest import vllm_openai_server

pytest.importorskip("vllm")

pytestmark = pytest.mark.heavy

SERVED = "tiny-sim"


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_openai_server(tiny_model_dir, tmp_path_factory.mktemp("vllm") / "server.log", SERVED) as url:
        yield f"{url}/v1"


async def test_generates_through_real_vllm_server(vllm_server: str, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    eng = OpenAICompatEngine(EngineSettings(kind="openai", openai_urls=[vllm_server]))
    await eng.start()
    try:
        assert eng.ready() and eng.model_name == SERVED  # discovered from GET /v1/models
        prompts = [build_prompt(q, "noisy", "sft") for q in ("capital of france", "who wrote hamlet",
                                                              "tallest mountain", "speed of light")]
        settings = [SamplingSettings(temperature=0.8, max_tokens=64, seed=100 + i) for i in range(4)]
        first = await eng.generate(prompts, settings)
        again = await asyncio.gather(*(eng.generate([p], [s]) for p, s in zip(prompts, settings)))
        assert [c[0] for c in again] == first
        tok = AutoTokenizer.from_pretrained(tiny_model_dir)
        for p, c in zip(prompts, first):
            # The server rendered exactly ZeroSearch's messages through the model's chat template.
            rendered = tok.apply_chat_template(chat_messages(p), tokenize=False, add_generation_prompt=True)
            assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
            assert 0 < c.completion_tokens <= 64 and c.text
        [greedy] = await eng.generate(prompts[:1], [SamplingSettings(temperature=0.0, max_tokens=64)])
        assert greedy.text.startswith("Doc 1:")
    finally:
        await eng.aclose()
