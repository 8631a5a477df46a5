"""The native search tool through verl's `ToolAgentLoop` (our subclass), and the tool-response
length: verl truncates tool responses to `max_tool_response_length` CHARACTERS (default 256),
which cuts five documents apart; our run configs must raise it."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from omegaconf import OmegaConf
from serpsim_trainer.tool import MIN_TOOL_RESPONSE_CHARS
from transformers import AutoTokenizer

from .conftest import CONFIGS, write_tool_config
from .test_agent_loop import ScriptedServer, build_loop, rendered_tool_config, run_kwargs

pytestmark = pytest.mark.heavy

VERL_DEFAULT_TOOL_RESPONSE_CHARS = 256


def tool_loop_config(tool_config: Path, max_tool_response_length: int) -> Any:
    return OmegaConf.create({
        "actor_rollout_ref": {"rollout": {
            "prompt_length": 1024, "response_length": 2048, "full_determinism": False,
            "multi_turn": {
                "tool_config_path": str(tool_config), "format": "hermes", "max_user_turns": 3,
                "max_assistant_turns": 3, "max_parallel_calls": 1,
                "max_tool_response_length": max_tool_response_length, "tool_response_truncate_side": "right",
            },
        }},
        "data": {},
    })


def run_tool_loop(live_simulator: str, tokenizer: Any, tmp_path: Path, max_chars: int) -> tuple[Any, list[dict]]:
    trace = tmp_path / f"trace-{max_chars}.jsonl"
    tool_cfg = write_tool_config(tmp_path / f"tool-{max_chars}.yaml", url=live_simulator, trace_path=str(trace))
    call = json.dumps({"name": "search", "arguments": {"query": "capital of France"}})
    server = ScriptedServer(tokenizer, {"capital of france": [
        f"I will search.\n<tool_call>\n{call}\n</tool_call><|im_end|>", "<answer> Paris </answer><|im_end|>",
    ]})
    cfg = tool_loop_config(tool_cfg, max_chars)

    async def main() -> Any:
        loop = await build_loop(cfg, server, tokenizer, name="search_tool_agent")
        return await loop.run({"temperature": 1.0, "logprobs": True}, **run_kwargs("nq-1", step=4, session_id=2))

    out = asyncio.run(main())
    return out, [json.loads(line) for line in trace.read_text().splitlines()]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_tool_gets_step_sample_and_five_docs_fit(live_simulator: str, tokenizer: Any, tmp_path: Path) -> None:
    out, records = run_tool_loop(live_simulator, tokenizer, tmp_path, MIN_TOOL_RESPONSE_CHARS)
    text = tokenizer.decode(out.response_ids)
    (r,) = records
    # The whole result fits: its last document is there (the tiny model may write fewer than five).
    assert r["n_docs"] >= 2 and f"Doc {r['n_docs']}: " in text and "<answer> Paris </answer>" in text
    assert out.extra_fields["search_calls"] == 1 and out.extra_fields["search_failures"] == 0
    # ToolAgentLoop itself forwards none of these; our subclass puts them into create_kwargs.
    assert (r["step"], r["split"], r["uid"], r["rollout"]) == (4, "train", "nq-1", 2)
    assert (r["question"], r["answer"]) == ("what is the capital of france", "Paris")
    p_noisy = (4 ** (4 / 203) - 1) / 3 * 0.5  # the packaged curriculum (0 -> 0.5 over 203 steps) at step 4
    assert r["p_noisy"] == pytest.approx(p_noisy)
    assert r["quality"] == ("noisy" if random.Random(r["seed"]).random() < p_noisy else "useful")
    # Tool output tokens are masked out of the loss.
    tool_tokens = [t for t, m in zip(out.response_ids, out.response_mask, strict=True) if m == 0]
    assert "Doc 1: " in tokenizer.decode(tool_tokens)


def test_verl_default_cuts_documents(live_simulator: str, tokenizer: Any, tmp_path: Path) -> None:
    out, records = run_tool_loop(live_simulator, tokenizer, tmp_path, VERL_DEFAULT_TOOL_RESPONSE_CHARS)
    (r,) = records
    assert r["n_docs"] >= 3  # 256 characters hold about two documents
    assert f"Doc {r['n_docs']}: " not in tokenizer.decode(out.response_ids)


def test_run_configs_raise_the_limit() -> None:
    run_config = CONFIGS / "zerosearch.yaml"
    verl = yaml.safe_load(run_config.read_text())["verl"]
    assert verl["actor_rollout_ref.rollout.multi_turn.max_tool_response_length"] >= MIN_TOOL_RESPONSE_CHARS
    # The trajectory budget fits the turns: 6 generations of 500 tokens would not, but the
    # documents of 5 searches plus a few turns must.
    assert verl["data.max_response_length"] >= 2048


def _call(query: str) -> str:
    return "<tool_call>\n" + json.dumps({"name": "search", "arguments": {"query": query}}) + "\n</tool_call><|im_end|>"


def test_two_native_searches_of_one_trajectory_draw_independently(
    live_simulator: str, tokenizer: Any, tmp_path: Path
) -> None:
    """Issue 8 item 3: verl creates a tool instance per call; the searches of one trajectory must still
    be distinct calls (turn 0, 1), with their own seeds and their own useful/noisy coin."""
    trace = tmp_path / "trace.jsonl"
    # p(noisy) = 0.5 at every step: each call's quality is its own seed's coin.
    tool_cfg = write_tool_config(tmp_path / "tool.yaml", url=live_simulator, trace_path=str(trace), seed=5,
                                 curriculum={"start": 0.5, "end": 0.5, "base": 4.0, "total_steps": 10})
    server = ScriptedServer(tokenizer, {"capital of france": [
        f"First the city.\n{_call('capital of France')}", f"Then the tower.\n{_call('eiffel tower height')}",
        "<answer> Paris </answer><|im_end|>",
    ]})

    async def main() -> Any:
        loop = await build_loop(tool_loop_config(tool_cfg, MIN_TOOL_RESPONSE_CHARS), server, tokenizer,
                                name="search_tool_agent")
        return await loop.run({"temperature": 1.0, "logprobs": True}, **run_kwargs("nq-1", step=4, session_id=2))

    out = asyncio.run(main())
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(r["query"], r["turn"]) for r in records] == [("capital of France", 0), ("eiffel tower height", 1)]
    assert records[0]["seed"] != records[1]["seed"]
    for r in records:
        echo = httpx.get(f"{live_simulator}/searches/{r['search_id']}.json", timeout=10).json()["search_parameters"]
        assert int(echo["seed"]) == r["seed"] and echo["quality"] == r["quality"]
        # The curriculum's rule, written out: noisy iff a Random seeded with the call's seed draws below p.
        assert r["quality"] == ("noisy" if random.Random(r["seed"]).random() < 0.5 else "useful")
    assert out.extra_fields["search_calls"] == 2
    assert out.extra_fields["search_qualities"] == [r["quality"] for r in records]


def test_native_tool_shows_fetched_documents_whatever_other_searches_did(
    tokenizer: Any, fake_serpapi: tuple[str, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 3: with the run's rendered tool config, other trajectories' failed searches must
    never replace the documents a search fetched with verl's "Error executing tool" text."""
    from verl.tools.tool_registry import load_all_tools

    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    tool_config = rendered_tool_config(tmp_path / "run", fake_serpapi[0])
    cfg = tool_loop_config(tool_config, MIN_TOOL_RESPONSE_CHARS)
    server = ScriptedServer(tokenizer, {
        "capital of france": [_call("FAIL paris"), "<answer> Paris </answer><|im_end|>"],
        "who wrote hamlet": [_call("hamlet author"), "<answer> William Shakespeare </answer><|im_end|>"],
    })
    tools = load_all_tools(str(tool_config), None)  # one worker: one tool instance for all loops

    async def main() -> list[Any]:
        loops = [await build_loop(cfg, server, tokenizer, name="search_tool_agent", tools=tools) for _ in range(10)]
        early = await asyncio.gather(*(loops[i].run({}, **run_kwargs("nq-1", session_id=i)) for i in range(2)))
        late = await asyncio.gather(*(loops[i].run({}, **run_kwargs("nq-2", session_id=i)) for i in range(2, 10)))
        return [*early, *late]

    outs = asyncio.run(main())
    texts = [tokenizer.decode(o.response_ids) for o in outs]
    assert not any("Error executing tool" in t for t in texts)
    assert all("hamlet author fact number 5." in t for t in texts[2:])
    assert [o.extra_fields["search_failures"] for o in outs] == [1, 1] + [0] * 8
