"""The native search tool through verl's `ToolAgentLoop` (our subclass), and the tool-response
length: verl truncates tool responses to `max_tool_response_length` CHARACTERS (default 256),
which cuts five documents apart; our run configs must raise it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("verl")

from omegaconf import OmegaConf
from serpsim_trainer.tags import instruction_for
from serpsim_trainer.tool import MIN_TOOL_RESPONSE_CHARS
from transformers import AutoTokenizer

from .conftest import CONFIGS, write_tool_config
from .test_agent_loop import ScriptedServer, build_loop, run_kwargs

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
    assert r["quality"] in ("useful", "noisy") and r["p_noisy"] is not None
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


def test_five_real_sized_documents_fit_min_chars() -> None:
    # Five ~30-word documents (ZeroSearch's prompt) rendered as `Doc k: ...`, with long words.
    doc = " ".join(["documentation"] * 30)
    rendered = "\n".join(f"Doc {k}: {doc}" for k in range(1, 6))
    assert len(rendered) < MIN_TOOL_RESPONSE_CHARS
    assert instruction_for("q")  # the same protocol module serves both loops
