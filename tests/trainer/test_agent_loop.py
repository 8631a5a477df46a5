"""The tag-protocol agent loop run through verl's own agent-loop machinery: registered from our
YAML and built with `hydra.utils.instantiate` exactly as `AgentLoopWorker._run_agent_loop` does,
tools loaded with verl's `load_all_tools`, a scripted fake LLM server, and the real simulator
over HTTP (tiny model)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("verl")

import hydra
from omegaconf import OmegaConf
from serpsim_trainer.curriculum import Curriculum
from serpsim_trainer.tags import INVALID_ACTION_MESSAGE, NO_INFORMATION, instruction_for
from transformers import AutoTokenizer
from verl.experimental.agent_loop.agent_loop import (
    DictConfigWrap,
    ToolListWrap,
    _agent_loop_registry,
)
from verl.tools.tool_registry import load_all_tools
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.workers.rollout.replica import TokenOutput

from .conftest import CONFIGS, write_tool_config

pytestmark = pytest.mark.heavy

LOGPROB = -0.25
SAMPLES = {
    "nq-1": ("what is the capital of france", ["Paris", "Paris, France"]),
    "nq-2": ("who wrote hamlet", ["William Shakespeare"]),
}


class ScriptedServer:
    """verl's `server_manager.generate` contract: token ids + log-probs for scripted texts.

    Each request id (one trajectory) walks through its own script; the script is chosen by the
    question found in the prompt, so concurrent trajectories stay independent. Like a server that
    ignores `stop`, it returns text past the first closing tag: the loop must cut it.
    """

    def __init__(self, tokenizer: Any, scripts: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.scripts = scripts
        self.turn: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict, **kw: Any) -> TokenOutput:
        self.requests.append({"request_id": request_id, "sampling_params": dict(sampling_params)})
        prompt = self.tokenizer.decode(prompt_ids)
        script = next(s for key, s in self.scripts.items() if key in prompt)
        i = self.turn.get(request_id, 0)
        self.turn[request_id] = i + 1
        ids = self.tokenizer.encode(script[min(i, len(script) - 1)], add_special_tokens=False)
        return TokenOutput(token_ids=ids, log_probs=[LOGPROB] * len(ids), extra_fields={"global_steps": 3})


def trainer_config(tool_config: Path, response_length: int = 1024) -> Any:
    return OmegaConf.create(
        {
            "actor_rollout_ref": {
                "rollout": {
                    "prompt_length": 1024,
                    "response_length": response_length,
                    "multi_turn": {"tool_config_path": str(tool_config), "max_tool_response_length": 4000},
                }
            },
            "data": {},
        }
    )


async def build_loop(cfg: Any, server: ScriptedServer, tokenizer: Any, name: str = "zerosearch_agent") -> Any:
    """What AgentLoopWorker does: registry from our YAML, tools from the tool config, instantiate.
    Must run inside the event loop (AgentLoopBase captures the running loop; verl.md §9)."""
    for entry in OmegaConf.load(CONFIGS / "agent_loops.yaml"):
        _agent_loop_registry[entry.name] = entry
    tools = load_all_tools(cfg.actor_rollout_ref.rollout.multi_turn.tool_config_path, None)
    return hydra.utils.instantiate(
        config=_agent_loop_registry[name],
        trainer_config=DictConfigWrap(config=cfg),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        hf_model_type="qwen2",
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(cfg.data),
        tools=ToolListWrap(tools),
    )


def run_kwargs(uid: str, split: str = "train", step: int = 7, session_id: int = 0) -> dict[str, Any]:
    question, answers = SAMPLES[uid]
    return {
        "raw_prompt": [{"role": "user", "content": instruction_for(question)}],
        "data_source": "nq",
        "reward_model": {"style": "rule", "ground_truth": {"target": answers}},
        "extra_info": {"index": 0, "split": split, "question": question, "answers": answers, "uid": uid},
        "global_steps": step,
        "session_id": session_id,
        "uid": "verl-random-uuid",
    }


def segments(tokenizer: Any, ids: list[int], mask: list[int]) -> list[tuple[int, str]]:
    out: list[tuple[int, list[int]]] = []
    for t, m in zip(ids, mask, strict=True):
        if out and out[-1][0] == m:
            out[-1][1].append(t)
        else:
            out.append((m, [t]))
    return [(m, tokenizer.decode(toks)) for m, toks in out]


def read_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_search_invalid_answer_trajectory(live_simulator: str, tokenizer: Any, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    tool_cfg = write_tool_config(
        tmp_path / "tool.yaml", url=live_simulator, trace_path=str(trace), seed=11,
        curriculum={"start": 0.0, "end": 0.5, "base": 4.0, "total_steps": 10},
    )
    cfg = trainer_config(tool_cfg)
    scripts = {
        "capital of france": [
            "<think>I need the capital.</think>\n<search>capital of France</search><answer>too early</answer>",
            "<think>hmm</think> I will just guess.",
            "<think>The documents say Paris.</think>\n<answer> Paris </answer><|im_end|>",
        ],
        "who wrote hamlet": [
            "<search>author of Hamlet</search>",
            "<answer>William Shakespeare</answer><|im_end|>",
        ],
    }
    server = ScriptedServer(tokenizer, scripts)

    async def main() -> list[Any]:
        # Two samples' trajectories concurrently, as a worker runs them: each query must carry its
        # OWN sample's question and answer (ZeroSearch's batch code sent a neighbour's).
        loop_a = await build_loop(cfg, server, tokenizer)
        loop_b = await build_loop(cfg, server, tokenizer)
        loop_c = await build_loop(cfg, server, tokenizer)
        return await asyncio.gather(
            loop_a.run({"temperature": 1.0, "logprobs": True}, **run_kwargs("nq-1", step=7, session_id=0)),
            loop_b.run({"temperature": 1.0, "logprobs": True}, **run_kwargs("nq-2", step=7, session_id=0)),
            loop_c.run({"temperature": 1.0, "logprobs": True}, **run_kwargs("nq-2", step=7, session_id=1)),
        )

    out_a, out_b, out_c = asyncio.run(main())

    # Trajectory A: search -> information (mask 0) -> invalid -> message (mask 0) -> answer.
    segs = segments(tokenizer, out_a.response_ids, out_a.response_mask)
    assert [m for m, _ in segs] == [1, 0, 1, 0, 1]
    assert segs[0][1] == "<think>I need the capital.</think>\n<search>capital of France</search>"  # cut after tag
    assert segs[1][1].startswith("\n\n<information>Doc 1: ") and segs[1][1].endswith("</information>\n\n")
    assert "Doc 1: " in segs[1][1]
    assert segs[2][1] == "<think>hmm</think> I will just guess."
    assert segs[3][1] == INVALID_ACTION_MESSAGE
    # Cut right after the closing tag, as a server honouring `stop` would (the EOS is not kept).
    assert segs[4][1] == "<think>The documents say Paris.</think>\n<answer> Paris </answer>"
    # Token by token: every model token has mask 1 and its rollout log-prob; injected ones 0 / 0.0.
    assert out_a.response_logprobs is not None
    for m, lp in zip(out_a.response_mask, out_a.response_logprobs, strict=True):
        assert (m, lp) in {(1, LOGPROB), (0, 0.0)}
    assert out_a.num_turns == 6  # prompt + 3 generations + 2 observations
    assert out_a.extra_fields["search_calls"] == 1 and out_a.extra_fields["invalid_actions"] == 1
    assert out_a.extra_fields["search_failures"] == 0 and out_a.extra_fields["answered"] is True
    # The loop asked the server to stop at the closing tags and stayed inside the budget.
    params = server.requests[0]["sampling_params"]
    assert params["stop"] == ["</search>", "</answer>"] and params["max_tokens"] <= 500

    # What the simulator received, per query: the trace, and the simulator's own echo.
    records = read_trace(trace)
    assert len(records) == 3
    cur = Curriculum(start=0.0, end=0.5, base=4.0, total_steps=10)
    by_query = {r["query"]: r for r in records if r["query"] == "capital of France"}
    for r in records:
        question, answers = SAMPLES[r["uid"]]
        assert (r["question"], r["answer"]) == (question, answers[0])
        # The templates ask for five; a tiny model may merge or repeat one, which the parser drops.
        assert r["ok"] is True and r["split"] == "train" and r["step"] == 7 and 1 <= r["n_docs"] <= 5
        assert r["p_noisy"] == pytest.approx(cur.prob(7))
        assert r["quality"] == cur.draw_quality(random.Random(r["seed"]), 7)
        echo = httpx.get(f"{live_simulator}/searches/{r['search_id']}.json", timeout=10).json()
        params = echo["search_parameters"]
        assert params["q"] == r["query"]
        assert params["question"] == question and params["answer"] == answers[0]
        assert params["quality"] == r["quality"] and int(params["seed"]) == r["seed"]
    assert "capital of France" in by_query
    # Every document the simulator returned reached the policy (verl's 256-character cap is raised).
    assert f"Doc {by_query['capital of France']['n_docs']}: " in segs[1][1]
    # Two rollouts of one prompt get different seeds (so different documents).
    seeds_b = {r["rollout"]: r["seed"] for r in records if r["uid"] == "nq-2"}
    assert set(seeds_b) == {0, 1} and seeds_b[0] != seeds_b[1]
    assert out_b.extra_fields["search_qualities"] == [next(r["quality"] for r in records if r["uid"] == "nq-2" and r["rollout"] == 0)]
    assert out_c.extra_fields["search_rollout"] == 1


def test_turn_limit_and_validation_without_hints(live_simulator: str, tokenizer: Any, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    tool_cfg = write_tool_config(
        tmp_path / "tool.yaml", url=live_simulator, trace_path=str(trace), agent={"max_turns": 2}
    )
    cfg = trainer_config(tool_cfg)
    server = ScriptedServer(tokenizer, {"capital of france": ["<search>paris facts</search>"]})

    async def main() -> Any:
        loop = await build_loop(cfg, server, tokenizer)
        return await loop.run({"temperature": 0}, **run_kwargs("nq-1", split="test", step=150))

    out = asyncio.run(main())
    segs = segments(tokenizer, out.response_ids, out.response_mask)
    # max_turns=2 searches, then one final generation whose search is not executed.
    assert [m for m, _ in segs] == [1, 0, 1, 0, 1]
    assert segs[-1][1] == "<search>paris facts</search>"
    assert out.extra_fields["search_calls"] == 2 and out.extra_fields["answered"] is False
    assert out.response_logprobs is not None and len(out.response_logprobs) == len(out.response_ids)
    records = read_trace(trace)
    assert len(records) == 2
    for r in records:
        # Validation: never the gold answer, never injected noise.
        assert r["split"] == "test" and r["question"] is None and r["answer"] is None
        assert r["quality"] == "useful"
        echo = httpx.get(f"{live_simulator}/searches/{r['search_id']}.json", timeout=10).json()
        assert "answer" not in echo["search_parameters"] or echo["search_parameters"]["answer"] in (None, "")


def test_response_budget_and_failed_search(tokenizer: Any, tmp_path: Path) -> None:
    """A dead backend: the policy sees ZeroSearch's text, and the failure is counted and traced."""
    trace = tmp_path / "trace.jsonl"
    tool_cfg = write_tool_config(
        tmp_path / "tool.yaml", url="http://127.0.0.1:9", trace_path=str(trace), timeout_s=2, max_retries=0,
        stop_on_failure_rate=False,
    )
    cfg = trainer_config(tool_cfg, response_length=60)
    server = ScriptedServer(tokenizer, {"capital of france": ["<search>paris</search>"]})

    async def main() -> Any:
        loop = await build_loop(cfg, server, tokenizer)
        return await loop.run({}, **run_kwargs("nq-1"))

    out = asyncio.run(main())
    assert len(out.response_ids) <= 60 and len(out.response_mask) == len(out.response_ids)
    text = tokenizer.decode(out.response_ids)
    assert f"<information>{NO_INFORMATION}</information>" in text
    assert out.extra_fields["search_failures"] == out.extra_fields["search_calls"] >= 1
    r = read_trace(trace)[0]
    assert r["ok"] is False and r["error"]


@pytest.mark.parametrize("prompt_format", ["plain", "auto"])
def test_prompt_rendering_base_and_chat(prompt_format: str, tokenizer: Any, tmp_path: Path) -> None:
    tool_cfg = write_tool_config(tmp_path / "tool.yaml", url="http://127.0.0.1:9", agent={"prompt_format": prompt_format})
    server = ScriptedServer(tokenizer, {"capital of france": ["<answer>Paris</answer>"]})

    async def main() -> Any:
        loop = await build_loop(trainer_config(tool_cfg), server, tokenizer)
        return await loop.run({}, **run_kwargs("nq-1"))

    out = asyncio.run(main())
    instruction = instruction_for(SAMPLES["nq-1"][0])
    if prompt_format == "plain":  # a base model without a chat template sees the instruction itself
        assert out.prompt_ids == tokenizer.encode(instruction, add_special_tokens=False)
    else:
        assert tokenizer.decode(out.prompt_ids) == f"<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n"
    assert out.extra_fields["answered"] is True and out.extra_fields["search_calls"] == 0


def test_failure_bound_stops_the_rollout(tokenizer: Any, tmp_path: Path) -> None:
    from serpsim_trainer.search import SearchFailureRateExceeded

    tool_cfg = write_tool_config(tmp_path / "tool.yaml", url="http://127.0.0.1:9", timeout_s=2, max_retries=0,
                                 max_failure_rate=0.0, failure_check_min_calls=1)
    server = ScriptedServer(tokenizer, {"capital of france": ["<search>paris</search>"]})

    async def main() -> Any:
        loop = await build_loop(trainer_config(tool_cfg), server, tokenizer)
        return await loop.run({}, **run_kwargs("nq-1"))

    with pytest.raises(SearchFailureRateExceeded, match="1 of 1 searches failed"):
        asyncio.run(main())
