"""verl agent loop for the ZeroSearch / Search-R1 tag protocol (`<search>` / `<answer>`).

Registered through verl's agent-loop config file (`configs/agent_loops.yaml`, name
`zerosearch_agent`), selected per row by the parquet's `agent_name` column. Search settings come
from the search tool's entry in `actor_rollout_ref.rollout.multi_turn.tool_config_path`
(`configs/search_tool.yaml`): verl's `AgentLoopWorker` loads that file once per worker and hands
the tools to every loop it builds, so the loop and the native tool share one `Searcher` (one
HTTP client, one set of failure counters) per worker, configured in one place.

One trajectory is one growing assistant turn, as in ZeroSearch: generate until `</search>` or
`</answer>`; append `<information>` documents (or the invalid-action message) as tokens with
`response_mask` 0; repeat up to `max_turns`, then one final generation in which only an answer
counts. Model tokens carry mask 1 and their rollout log-probs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput
from verl.utils.profiler import simple_timer

from .reward import gold_answers
from .search import AgentSettings, SearchContext, Searcher, SearchSettings
from .tags import INVALID_ACTION_MESSAGE, STOP_STRINGS, cut_token_ids, information_block, parse_action

logger = logging.getLogger(__name__)

TOOL_CONFIG_KEY = "actor_rollout_ref.rollout.multi_turn.tool_config_path"


def _scalar(value: Any) -> Any:
    """Non-tensor batch values arrive as numpy scalars/arrays; give plain Python back."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value


def sample_identity(kwargs: dict[str, Any]) -> tuple[str, str | None, str | None, str]:
    """(stable uid, question, first gold answer, split) of the sample a trajectory answers.

    The uid must be stable across runs for seeds to replay: ours (`extra_info.uid`, written by
    `prepare-data`) first, then data source + index; verl's own `uid` is a fresh uuid per step.
    """
    extra_info = dict(kwargs.get("extra_info") or {})
    split = str(extra_info.get("split") or "train")
    uid = extra_info.get("uid")
    if uid is None and extra_info.get("index") is not None:
        uid = f"{kwargs.get('data_source', '')}:{extra_info['index']}"
    uid = str(uid if uid is not None else kwargs.get("uid", ""))
    question = extra_info.get("question")
    reward_model = kwargs.get("reward_model") or {}
    golds = gold_answers(reward_model.get("ground_truth") if isinstance(reward_model, dict) else None)
    if not golds:
        golds = gold_answers(extra_info.get("answers"))
    return uid, (str(question) if question is not None else None), (golds[0] if golds else None), split


def find_search_tool(tools: Any) -> Any:
    """The `SearchTool` among the tools verl's worker loaded from `tool_config_path`."""
    from .tool import SearchTool

    tool_list = getattr(tools, "tools", tools) or []
    for tool in tool_list:
        if isinstance(tool, SearchTool):
            return tool
    raise ValueError(
        "zerosearch_agent needs the search tool: set "
        f"{TOOL_CONFIG_KEY}=<path to serpsim_trainer/configs/search_tool.yaml> (the search backend, curriculum "
        "and turn settings live there)"
    )


@dataclass
class _Trajectory:
    response_ids: list[int] = field(default_factory=list)
    response_mask: list[int] = field(default_factory=list)
    response_logprobs: list[float] = field(default_factory=list)
    logprobs_complete: bool = True
    generations: int = 0
    observations: int = 0
    searches: int = 0
    failures: int = 0
    invalid: int = 0
    answered: bool = False
    qualities: list[str | None] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    server_fields: dict[str, Any] = field(default_factory=dict)

    def add(self, ids: Sequence[int], mask: int, logprobs: Sequence[float] | None = None) -> None:
        self.response_ids.extend(ids)
        self.response_mask.extend([mask] * len(ids))
        if logprobs is not None and len(logprobs) >= len(ids):
            self.response_logprobs.extend(list(logprobs)[: len(ids)])
        else:
            if mask == 1:
                self.logprobs_complete = False
            self.response_logprobs.extend([0.0] * len(ids))


class SearchAgentLoop(AgentLoopBase):
    """`<think>` / `<search>` / `<answer>` rollouts against a `Searcher` (see module docstring)."""

    def __init__(self, *args: Any, tools: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tool = find_search_tool(tools)
        self.settings: SearchSettings = tool.settings
        self.agent: AgentSettings = tool.settings.agent
        self.searcher: Searcher = tool.searcher
        self.response_length: int = int(self.rollout_config.response_length)

    async def _prompt_ids(self, raw_prompt: Any) -> list[int]:
        messages = list(raw_prompt) if not isinstance(raw_prompt, str) else [{"role": "user", "content": raw_prompt}]
        messages = [dict(m) for m in messages]
        use_chat = self.agent.prompt_format == "chat" or (
            self.agent.prompt_format == "auto" and getattr(self.tokenizer, "chat_template", None)
        )

        def render() -> list[int]:
            if use_chat:
                text = self.tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False, **dict(self.apply_chat_template_kwargs)
                )
            else:
                # Base models without a template: the instruction itself is the prompt.
                text = "\n\n".join(str(m.get("content", "")) for m in messages if m.get("content"))
            return list(self.tokenizer.encode(text, add_special_tokens=False))

        ids = await self.loop.run_in_executor(None, render)
        return self._cap_text_prompt_length(ids)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        step = int(_scalar(kwargs.get("global_steps")) or 0)
        uid, question, answer, split = sample_identity(kwargs)
        session = _scalar(kwargs.get("session_id"))
        rollout = int(session) if session is not None else self.searcher.next_rollout(step, split, uid)
        prompt_ids = await self._prompt_ids(kwargs["raw_prompt"])
        request_id = uuid4().hex
        eos_ids = {t for t in [self.tokenizer.eos_token_id, self.tokenizer.pad_token_id] if t is not None}
        traj = _Trajectory()
        timing: dict[str, float] = {}
        tool_seconds = 0.0

        for turn in range(self.agent.max_turns + int(self.agent.final_turn)):
            remaining = self.response_length - len(traj.response_ids)
            if remaining <= 0:
                break
            params = dict(sampling_params)
            params["max_tokens"] = min(remaining, self.agent.max_tokens_per_turn or remaining)
            # Only `stop` (vLLM and SGLang both take it); the ids are cut here anyway, because
            # the text a server returns may drop the stop string but its token ids do not.
            params["stop"] = list(STOP_STRINGS)
            with simple_timer("generate_sequences", timing):
                output = await self.server_manager.generate(
                    request_id=request_id, prompt_ids=prompt_ids + traj.response_ids, sampling_params=params
                )
            traj.generations += 1
            if not traj.server_fields:
                traj.server_fields.update(output.extra_fields or {})
            elif output.extra_fields.get("max_global_steps") is not None:
                traj.server_fields["max_global_steps"] = output.extra_fields["max_global_steps"]
            ids = cut_token_ids(list(output.token_ids)[:remaining], self._decode)
            logprobs = list(output.log_probs)[: len(ids)] if output.log_probs is not None else None
            action = parse_action(self._decode(ids))
            is_final = turn >= self.agent.max_turns
            if action.kind != "answer" and not is_final and ids and ids[-1] in eos_ids:
                # The trajectory goes on after this turn: an end-of-sequence token mid-trajectory
                # would teach the model to stop and then keep talking.
                ids, logprobs = ids[:-1], (logprobs[:-1] if logprobs is not None else None)
            traj.add(ids, 1, logprobs)
            if action.kind == "answer":
                traj.answered = True
                break
            if is_final:
                break  # the final generation's action is not executed (ZeroSearch)
            if action.kind == "search":
                ctx = SearchContext(
                    step=step, split=split, uid=uid, rollout=rollout, turn=turn, question=question, answer=answer
                )
                with simple_timer("tool_calls", timing):
                    outcome = await self.searcher.search(action.content, ctx)
                tool_seconds = timing.get("tool_calls", 0.0)
                traj.searches += 1
                traj.failures += not outcome.ok
                traj.qualities.append(outcome.quality)
                traj.seeds.append(outcome.seed)
                obs_ids = self._encode(information_block(outcome.text))[: self.agent.max_obs_tokens]
                if self.settings.stop_on_failure_rate:
                    self.searcher.check_failure_rate(step, split)
            else:
                traj.invalid += 1
                obs_ids = self._encode(INVALID_ACTION_MESSAGE)
            remaining = self.response_length - len(traj.response_ids)
            traj.add(obs_ids[:remaining], 0)
            traj.observations += 1

        metrics = AgentLoopMetrics(
            generate_sequences=timing.get("generate_sequences", 0.0), tool_calls=tool_seconds
        )
        extra_fields: dict[str, Any] = {
            **traj.server_fields,
            "turn_scores": [],
            "tool_rewards": [],
            "search_calls": traj.searches,
            "search_failures": traj.failures,
            "search_noisy": sum(q == "noisy" for q in traj.qualities),
            "search_qualities": traj.qualities,
            "search_seeds": traj.seeds,
            "invalid_actions": traj.invalid,
            "answered": traj.answered,
            "search_step": step,
            "search_rollout": rollout,
        }
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=traj.response_ids[: self.response_length],
            response_mask=traj.response_mask[: self.response_length],
            response_logprobs=traj.response_logprobs[: self.response_length] if traj.logprobs_complete else None,
            num_turns=traj.generations + traj.observations + 1,
            metrics=metrics,
            extra_fields=extra_fields,
        )
