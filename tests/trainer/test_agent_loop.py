"""The tag-protocol agent loop run through verl's own agent-loop machinery: registered from our
YAML and built with `hydra.utils.instantiate` exactly as `AgentLoopWorker._run_agent_loop` does,
tools loaded with verl's `load_all_tools`, a scripted fake LLM server, and the real simulator
over HTTP (tiny model)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from pathlib import Path
from typing import Any

import httpx
import hydra
import pytest
from omegaconf import OmegaConf
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
    "nq-3": ("which shakespeare play is set in verona", ["Romeo and Juliet"]),
    "nq-4": ("which play has a balcony scene", ["Romeo and Juliet"]),
    "nq-5": ("which play ends in a tomb in verona", ["Romeo and Juliet"]),
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


async def build_loop(
    cfg: Any, server: ScriptedServer, tokenizer: Any, name: str = "zerosearch_agent", tools: list | None = None
) -> Any:
    """What AgentLoopWorker does: registry from our YAML, tools from the tool config (loaded once per
    worker: pass `tools` to share them between loops), instantiate. Must run inside the event loop
    (AgentLoopBase captures the running loop; verl.md §9)."""
    for entry in OmegaConf.load(CONFIGS / "agent_loops.yaml"):
        _agent_loop_registry[entry.name] = entry
    if tools is None:
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
    p_noisy = 0.0 + (4**0.7 - 1) / (4 - 1) * (0.5 - 0.0)  # ZeroSearch's schedule at step 7 of 10
    by_query = {r["query"]: r for r in records if r["query"] == "capital of France"}
    for r in records:
        question, answers = SAMPLES[r["uid"]]
        assert (r["question"], r["answer"]) == (question, answers[0])
        # The templates ask for five; a tiny model may merge or repeat one, which the parser drops.
        assert r["ok"] is True and r["split"] == "train" and r["step"] == 7 and 1 <= r["n_docs"] <= 5
        assert r["p_noisy"] == pytest.approx(p_noisy)
        # The coin, written out: noisy iff a Random seeded with the call's own seed draws below p.
        assert r["quality"] == ("noisy" if random.Random(r["seed"]).random() < p_noisy else "useful")
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


def test_an_empty_search_is_an_invalid_action_not_a_failed_search(tokenizer: Any, tmp_path: Path) -> None:
    """`<search></search>` reaches no backend (a dead one here, which would fail any search): the
    policy reads the invalid-action message, and no search, failure or trace line is counted."""
    trace = tmp_path / "trace.jsonl"
    tool_cfg = write_tool_config(tmp_path / "tool.yaml", url="http://127.0.0.1:9", trace_path=str(trace),
                                 timeout_s=2, max_retries=0)
    server = ScriptedServer(tokenizer, {"capital of france": ["<think>x</think>\n<search> </search>",
                                                              "<answer>Paris</answer><|im_end|>"]})

    async def main() -> Any:
        loop = await build_loop(trainer_config(tool_cfg), server, tokenizer)
        return await loop.run({}, **run_kwargs("nq-1"))

    out = asyncio.run(main())
    segs = segments(tokenizer, out.response_ids, out.response_mask)
    assert [m for m, _ in segs] == [1, 0, 1] and segs[1][1] == INVALID_ACTION_MESSAGE
    assert out.extra_fields["invalid_actions"] == 1 and out.extra_fields["answered"] is True
    assert out.extra_fields["search_calls"] == 0 and out.extra_fields["search_failures"] == 0
    assert not trace.exists() or not trace.read_text().strip()


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


def rendered_tool_config(run_dir: Path, search_url: str) -> Path:
    """The search tool config `serpsim-train rl` renders for a run (the packaged GRPO config) whose
    backend is a SerpApi-shaped server at `search_url` (key in $SERPAPI_API_KEY), without retries."""
    from serpsim_trainer.rl import plan_run, write_run_files

    plan = plan_run("grpo", [f"serpsim.run_dir={run_dir}", "serpsim.search.kind=serpapi",
                             f"serpsim.search.url={search_url}", "serpsim.search.api_key_env=SERPAPI_API_KEY",
                             "serpsim.search.max_retries=0"])
    write_run_files(plan)
    return plan.tool_config_path


def verl_reward(out: Any, kwargs: dict[str, Any], config: Any) -> dict[str, Any]:
    """Score one agent-loop output exactly as verl 0.9.1 does: the batch `AgentLoopWorker._compute_score`
    builds (prompt + response tokens; the row's fields; the loop's `extra_fields` as
    `tool_extra_fields`), through `RewardLoopWorker` loaded from the run's composed config (our
    `reward.custom_reward_function`), whose `NaiveRewardManager` decodes the whole response."""
    import numpy as np
    import torch
    from tensordict import TensorDict
    from verl import DataProto
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    prompts, responses = torch.tensor([out.prompt_ids]), torch.tensor([out.response_ids])
    input_ids = torch.cat([prompts, responses], dim=1)
    batch = TensorDict({
        "prompts": prompts, "responses": responses, "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids), "position_ids": torch.arange(input_ids.shape[1])[None],
    }, batch_size=1)
    non_tensor: dict[str, Any] = {}
    for key, value in kwargs.items():
        column = np.empty(1, dtype=object)
        column[0] = value
        non_tensor[key] = column
    fields = np.empty(1, dtype=object)
    fields[0] = out.extra_fields
    non_tensor.update({"__num_turns__": np.array([out.num_turns]), "tool_extra_fields": fields})
    data = DataProto(batch=batch, non_tensor_batch=non_tensor)

    async def score() -> dict[str, Any]:  # the worker binds to the running event loop, as in its actor
        return await RewardLoopWorker(config).compute_score(data)

    result = asyncio.run(score())
    return {"score": result["reward_score"], **result["reward_extra_info"]}


def test_reward_scores_only_the_policys_own_text(
    tokenizer: Any, tiny_model_dir: Path, fake_serpapi: tuple[str, list], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 8 item 1, through verl's reward path: injected text never counts as the policy's answer,
    and nothing the policy writes (an `<information>` tag of its own, a cut observation) deletes its answer."""
    from serpsim_trainer.rl import plan_run

    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    url, _ = fake_serpapi
    tool_cfg = write_tool_config(tmp_path / "tool.yaml", kind="serpapi", url=url, api_key_env="SERPAPI_API_KEY",
                                 agent={"max_turns": 1, "max_obs_tokens": 16})
    server = ScriptedServer(tokenizer, {
        # One invalid action (ZeroSearch's message, which names <answer> and </answer>), then no answer.
        "set in verona": ["<think>hmm</think> I am not sure.", "<think>still unsure</think> no idea"],
        # The policy writes an opening <information> tag itself, then answers.
        "balcony scene": ["<think>no <information> needed</think>\n<answer> Romeo and Juliet </answer><|im_end|>"],
        # A search whose documents are cut to 16 tokens, then the answer.
        "tomb in verona": ["<search>verona tomb play</search>", "<answer> Romeo and Juliet </answer><|im_end|>"],
    })
    config = plan_run("grpo", [f"serpsim.run_dir={tmp_path / 'run'}", f"actor_rollout_ref.model.path={tiny_model_dir}"]).config

    async def main() -> list[Any]:
        outs = []
        for uid in ("nq-3", "nq-4", "nq-5"):
            loop = await build_loop(trainer_config(tool_cfg), server, tokenizer)
            outs.append(await loop.run({}, **run_kwargs(uid)))
        return outs

    never, own_tag, cut = asyncio.run(main())
    assert INVALID_ACTION_MESSAGE in tokenizer.decode(never.response_ids)  # the message is in verl's solution_str
    r = verl_reward(never, run_kwargs("nq-3"), config)
    assert (r["score"], r["f1"], r["cover_em"], r["has_answer"]) == (0.0, 0.0, 0.0, 0.0)
    r = verl_reward(own_tag, run_kwargs("nq-4"), config)
    assert (r["score"], r["em"], r["has_answer"]) == (1.0, 1.0, 1.0)
    assert [m for m, _ in segments(tokenizer, cut.response_ids, cut.response_mask)] == [1, 0, 1]
    assert sum(1 - m for m in cut.response_mask) <= 16  # the observation cap, in tokens
    r = verl_reward(cut, run_kwargs("nq-5"), config)
    assert (r["score"], r["em"], r["has_answer"]) == (1.0, 1.0, 1.0)


def test_failed_searches_never_abort_a_trajectory(
    tokenizer: Any, fake_serpapi: tuple[str, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 2: with the run's own rendered tool config (`serpsim-train rl` writes it), the first
    searches of a step failing must not abort other trajectories (or their own): every trajectory
    finishes and reports its own failures; the bound is the trainer's business, per step."""
    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    tool_config = rendered_tool_config(tmp_path / "run", fake_serpapi[0])
    cfg = trainer_config(tool_config)
    server = ScriptedServer(tokenizer, {
        "capital of france": ["<search>FAIL paris</search>", "<answer> Paris </answer><|im_end|>"],
        "who wrote hamlet": ["<search>hamlet author</search>", "<answer> William Shakespeare </answer><|im_end|>"],
    })
    tools = load_all_tools(str(tool_config), None)  # one worker: one set of tools for all loops

    async def main() -> list[Any]:
        loops = [await build_loop(cfg, server, tokenizer, tools=tools) for _ in range(10)]
        # Two trajectories whose search fails finish first, then eight good ones run: 2 of the
        # step's 10 calls fail (20%, not above the bound), and 2 of its first 8 did.
        early = await asyncio.gather(*(loops[i].run({}, **run_kwargs("nq-1", session_id=i)) for i in range(2)))
        late = await asyncio.gather(*(loops[i].run({}, **run_kwargs("nq-2", session_id=i)) for i in range(2, 10)))
        return [*early, *late]

    outs = asyncio.run(main())
    assert [o.extra_fields["answered"] for o in outs] == [True] * 10
    assert [o.extra_fields["search_failures"] for o in outs] == [1, 1] + [0] * 8
    assert all("503" in o.extra_fields["search_errors"][0] for o in outs[:2])
    for out in outs[2:]:
        assert "Doc 5: Title 5 of hamlet author: hamlet author fact number 5." in tokenizer.decode(out.response_ids)


def test_row_without_split_gets_no_hints_and_no_noise(
    live_simulator: str, tokenizer: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8 item 7: a row whose `extra_info` has no `split` is not training data by default."""
    trace = tmp_path / "trace.jsonl"
    # p(noisy) = 1 at every training step: a row taken for training would get noise, and hints.
    tool_cfg = write_tool_config(tmp_path / "tool.yaml", url=live_simulator, trace_path=str(trace),
                                 curriculum={"start": 1.0, "end": 1.0, "base": 4.0, "total_steps": 10})
    server = ScriptedServer(tokenizer, {"capital of france": ["<search>paris</search>", "<answer>Paris</answer>"]})
    kwargs = run_kwargs("nq-1")
    del kwargs["extra_info"]["split"]

    async def main() -> Any:
        loop = await build_loop(trainer_config(tool_cfg), server, tokenizer)
        return await loop.run({}, **kwargs)

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    (r,) = read_trace(trace)
    assert r["quality"] == "useful" and r["question"] is None and r["answer"] is None
    echo = httpx.get(f"{live_simulator}/searches/{r['search_id']}.json", timeout=10).json()["search_parameters"]
    assert echo.get("quality") == "useful" and not echo.get("answer") and not echo.get("question")
    assert any("without extra_info.split" in rec.getMessage() for rec in caplog.records)
