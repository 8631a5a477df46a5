"""TransformersEngine: chat rendering, real token counts, dynamic batching, batch-independent seeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from serpsim_protocol.prompts import build_prompt
from serpsim_simulator.engines import EngineError, build_engine
from serpsim_simulator.engines.base import SamplingSettings, chat_messages
from serpsim_simulator.engines.hf_local import TransformersEngine
from serpsim_simulator.settings import EngineSettings

GREEDY = SamplingSettings(temperature=0.0, max_tokens=24)


def _prompts() -> list[str]:
    """Real simulation prompts of different lengths, so batches need padding."""
    return [
        build_prompt("capital of france", "useful", "sft", question="What is the capital of France?", answer="Paris"),
        build_prompt("who wrote hamlet", "noisy", "sft"),
        build_prompt("boiling point of water at sea level in degrees celsius", "useful", "sft"),
        build_prompt("tallest mountain", "noisy", "prompt"),
    ]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: a ~1M-parameter model gains nothing from more, and on a busy 2-core
    machine two OpenMP threads waiting on each other make every step ~30x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _engine(model_dir: Path, **kw: object) -> TransformersEngine:
    return TransformersEngine(EngineSettings(kind="transformers", model=str(model_dir), device="cpu", **kw))


@pytest.fixture
async def engine(tiny_model_dir: Path) -> AsyncIterator[TransformersEngine]:
    eng = _engine(tiny_model_dir, batch_wait_ms=20)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.aclose()


def test_build_engine_picks_transformers(tiny_model_dir: Path) -> None:
    eng = build_engine(EngineSettings(kind="transformers", model=str(tiny_model_dir)))
    assert isinstance(eng, TransformersEngine)
    assert eng.kind == "transformers" and eng.model_name == str(tiny_model_dir)
    assert not eng.ready()


async def test_not_started_raises(tiny_model_dir: Path) -> None:
    with pytest.raises(EngineError):
        await _engine(tiny_model_dir).generate(["q"], [GREEDY])


async def test_token_counts_are_real(engine: TransformersEngine, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = _prompts()[0]
    rendered = tok.apply_chat_template(chat_messages(prompt), tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("assistant\n") and prompt in rendered
    [c] = await engine.generate([prompt], [GREEDY])
    assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
    assert 0 < c.completion_tokens <= GREEDY.max_tokens
    assert c.text and "<|im_end|>" not in c.text


async def test_greedy_batched_equals_alone(engine: TransformersEngine) -> None:
    prompts = _prompts()
    alone = [(await engine.generate([p], [GREEDY]))[0] for p in prompts]
    before = engine.stats()
    together = await asyncio.gather(*(engine.generate([p], [GREEDY]) for p in prompts))
    after = engine.stats()
    assert [c[0] for c in together] == alone
    # The four concurrent calls ran as one batch.
    assert after.batches == before.batches + 1 and after.largest_batch == len(prompts)


async def test_seed_alone_decides_sampled_text(engine: TransformersEngine) -> None:
    """Exact equality: each row draws from its own generator, so batch-mates cannot shift it."""
    target = _prompts()[1]
    mine = SamplingSettings(temperature=1.0, top_p=0.95, max_tokens=32, seed=1234)
    [alone] = await engine.generate([target], [mine])
    mates_a = [SamplingSettings(temperature=0.7, max_tokens=20, seed=s) for s in (1, 2)]
    mates_b = [SamplingSettings(temperature=1.3, top_p=0.5, max_tokens=40, seed=s) for s in (9, 8, 7)]
    batch_a = await engine.generate([_prompts()[0], target, _prompts()[2]], [mates_a[0], mine, mates_a[1]])
    batch_b = await engine.generate([target, *_prompts()[1:]], [mine, *mates_b])
    assert batch_a[1] == alone
    assert batch_b[0] == alone
    # And the seed matters: at temperature 1.0 several seeds do not all give one text.
    others = await engine.generate([target] * 4, [SamplingSettings(temperature=1.0, max_tokens=16, seed=s) for s in range(4)])
    assert len({c.text for c in others}) > 1


async def test_per_request_settings_in_one_batch(engine: TransformersEngine) -> None:
    prompts = _prompts()
    settings = [SamplingSettings(temperature=0.0, max_tokens=n) for n in (1, 5, 17, 40)]
    out = await engine.generate(prompts, settings)
    assert [c.completion_tokens <= s.max_tokens for c, s in zip(out, settings)] == [True] * 4
    assert out[0].completion_tokens == 1
    # A shorter budget yields a prefix of the longer greedy text.
    [full] = await engine.generate([prompts[2]], [SamplingSettings(temperature=0.0, max_tokens=40)])
    assert full.text.startswith(out[2].text)


async def test_max_batch_size_bounds_batches(tiny_model_dir: Path) -> None:
    eng = _engine(tiny_model_dir, max_batch_size=2, batch_wait_ms=50)
    await eng.start()
    try:
        out = await asyncio.gather(*(eng.generate([p], [GREEDY]) for p in _prompts()))
        assert len(out) == 4
        stats = eng.stats()
        assert stats.largest_batch == 2 and stats.rows == 4 and stats.batches == 2
    finally:
        await eng.aclose()


async def test_lone_request_does_not_wait(tiny_model_dir: Path) -> None:
    eng = _engine(tiny_model_dir, batch_wait_ms=3000)
    await eng.start()
    try:
        await eng.generate(["warm up"], [SamplingSettings(temperature=0.0, max_tokens=2)])
        t0 = time.perf_counter()
        await eng.generate(["q"], [SamplingSettings(temperature=0.0, max_tokens=2)])
        assert time.perf_counter() - t0 < 2.0
    finally:
        await eng.aclose()


async def test_cancelled_caller_does_not_break_engine(engine: TransformersEngine) -> None:
    task = asyncio.create_task(engine.generate(_prompts(), [SamplingSettings(temperature=0.0, max_tokens=200)] * 4))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [c] = await engine.generate([_prompts()[0]], [GREEDY])
    assert c.completion_tokens > 0


async def test_aclose_fails_pending_and_stops(tiny_model_dir: Path) -> None:
    eng = _engine(tiny_model_dir)
    await eng.start()
    assert eng.ready()
    await eng.aclose()
    assert not eng.ready()
    with pytest.raises(EngineError):
        await eng.generate(["q"], [GREEDY])


def test_a_prompt_longer_than_the_context_is_a_400(tiny_model_dir: Path) -> None:
    """The same answer as the other engines give (a client mistake, never a 503 to retry)."""
    from fastapi.testclient import TestClient
    from serpsim_simulator.app import create_app

    from tests.simulator.conftest import _wait_ready, make_settings

    settings = make_settings(engine={"kind": "transformers", "model": str(tiny_model_dir), "device": "cpu", "max_model_len": 64})
    with TestClient(create_app(settings)) as client:
        _wait_ready(client, timeout_s=60)
        search = client.get("/search.json", params={"q": "capital of france", "num": 5})
        retrieve = client.post("/retrieve", json={"queries": ["capital of france"]})
    assert search.status_code == retrieve.status_code == 400
    assert "context" in search.json()["error"] and "context" in retrieve.json()["detail"]


async def test_model_revision_follows_the_checkpoints_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The result cache keys on it: a checkpoint rewritten under the same path is another model."""
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    revisions = []
    for rewrite in (False, False, True):
        if rewrite:
            config = copy / "generation_config.json"
            config.write_text(config.read_text().replace("}", ', "top_k": 20}', 1))
        eng = _engine(copy)
        await eng.start()
        revisions.append(eng.model_revision)
        await eng.aclose()
    assert revisions[0] == revisions[1] != revisions[2] and revisions[0].startswith("files:")
    assert _engine(copy, model_revision="v7").model_revision == "v7"


async def test_a_seeded_search_is_the_same_alone_and_in_a_batch_of_16(engine: TransformersEngine) -> None:
    """Through the simulator: a /search on its own and the same query inside a /retrieve batch."""
    from .searches import BATCH, alone, together

    before = engine.stats()
    batched = await together(engine, BATCH)
    assert engine.stats().largest_batch >= len(BATCH) and engine.stats().batches == before.batches + 1
    assert batched == await alone(engine, BATCH)
    assert all(batched) and len({tuple(docs) for docs in batched}) == len(BATCH)
