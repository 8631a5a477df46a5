"""verl agent loop for the ZeroSearch / Search-R1 tag protocol (`<search>` / `<answer>`).

Registered through verl's agent-loop config file (`configs/agent_loops.yaml`, name
`zerosearch_agent`), selected per row by the parquet's `agent_name` column. Search settings come
from the search tool's entry in `actor_rollout_ref.rollout.multi_turn.tool_config_path`
(`configs/search_tool.yaml`): verl's `AgentLoopWorker` loads that file once per worker and hands
the tools to every loop it builds, so the loop and the native tool share one `Searcher` (one
HTTP client) per worker, configured in one place.

One trajectory is one growing assistant turn, as in ZeroSearch; the turn rules are
`turns.TurnProtocol`'s (the same as `eval` and `ask`). Model tokens carry mask 1 and their
rollout log-probs; documents and messages mask 0. A failed search never raises: it is shown as
ZeroSearch did and reported in `extra_fields`, where verl's V1 trainer reads it per step
(`failure_bound`). `extra_fields["policy_text"]` is the policy's own text, which the reward scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput
from verl.utils.profiler import simple_timer

from .reward import POLICY_TEXT_KEY, gold_answers
from .search import AgentSettings, SearchContext, Searcher, SearchOutcome, SearchSettings
from .tags import STOP_STRINGS
from .turns import Generation, Trajectory, TurnProtocol, render_prompt

logger = logging.getLogger(__name__)

TOOL_CONFIG_KEY = "actor_rollout_ref.rollout.multi_turn.tool_config_path"
UNKNOWN_SPLIT = "unknown"
MAX_REPORTED_ERRORS = 3


def _scalar(value: Any) -> Any:
    """Non-tensor batch values arrive as numpy scalars/arrays; give plain Python back."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value


@dataclass(frozen=True)
class Sample:
    """The row and rollout a trajectory serves, from the kwargs verl's V1 trainer passes to `run`."""

    step: int
    rollout: int
    uid: str
    question: str | None
    answer: str | None
    split: str

    def context(self, turn: int) -> SearchContext:
        return SearchContext(step=self.step, split=self.split, uid=self.uid, rollout=self.rollout, turn=turn,
                             question=self.question, answer=self.answer)


def sample_of(kwargs: dict[str, Any], searcher: Searcher) -> Sample:
    """The sample a trajectory answers. The uid must be stable across runs for seeds to replay: ours
    (`extra_info.uid`, written by `prepare-data`) first, then data source + index; verl's own `uid`
    is a fresh uuid per step. A row without `extra_info.split` is not taken for training data (no
    gold-answer hints, no injected noise): a warning says so, once per worker."""
    if kwargs.get("global_steps") is None or kwargs.get("session_id") is None:
        raise RuntimeError(
            "serpsim's agent loops need verl's V1 trainer (trainer.use_v1=true), which passes each "
            "trajectory's global_steps and session_id (rollout index); the legacy trainer passes neither"
        )
    extra_info = dict(kwargs.get("extra_info") or {})
    split = extra_info.get("split")
    if not split:
        split = UNKNOWN_SPLIT
        searcher.warn_once("no-split", "rows without extra_info.split (e.g. %s): treated as evaluation data, "
                           "no hints and no noise; prepare-data writes the split", kwargs.get("data_source"))
    uid = extra_info.get("uid")
    if uid is None and extra_info.get("index") is not None:
        uid = f"{kwargs.get('data_source', '')}:{extra_info['index']}"
    uid = str(uid if uid is not None else kwargs.get("uid", ""))
    question = extra_info.get("question")
    reward_model = kwargs.get("reward_model") or {}
    golds = gold_answers(reward_model.get("ground_truth") if isinstance(reward_model, dict) else None)
    if not golds:
        golds = gold_answers(extra_info.get("answers"))
    return Sample(step=int(_scalar(kwargs["global_steps"])), rollout=int(_scalar(kwargs["session_id"])), uid=uid,
                  question=str(question) if question is not None else None,
                  answer=golds[0] if golds else None, split=str(split))


def search_report(outcomes: list[SearchOutcome]) -> dict[str, Any]:
    """A trajectory's searches, as `extra_fields` (counted per step by `failure_bound`)."""
    errors = [o.error for o in outcomes if o.error]
    return {
        "search_calls": len(outcomes),
        "search_failures": sum(not o.ok for o in outcomes),
        "search_errors": errors[:MAX_REPORTED_ERRORS],
        "search_noisy": sum(o.quality == "noisy" for o in outcomes),
        # `document` granularity: noisy documents among those shown (the simulation's labels)
        "search_noisy_documents": sum(o.labels.count("noisy") for o in outcomes),
        "search_qualities": [o.quality for o in outcomes],
        "search_seeds": [o.seed for o in outcomes],
    }


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


class SearchAgentLoop(AgentLoopBase):
    """`<think>` / `<search>` / `<answer>` rollouts against a `Searcher` (see module docstring)."""

    def __init__(self, *args: Any, tools: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tool = find_search_tool(tools)
        self.settings: SearchSettings = tool.settings
        self.agent: AgentSettings = tool.settings.agent
        self.searcher: Searcher = tool.searcher
        self.protocol = TurnProtocol(self.tokenizer, self.agent, int(self.rollout_config.response_length))

    async def _prompt_ids(self, raw_prompt: Any) -> list[int]:
        ids = await self.loop.run_in_executor(None, lambda: render_prompt(
            self.tokenizer, raw_prompt, self.agent.prompt_format, **dict(self.apply_chat_template_kwargs)))
        return self._cap_text_prompt_length(ids)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        sample = sample_of(kwargs, self.searcher)
        prompt_ids = await self._prompt_ids(kwargs["raw_prompt"])
        request_id = uuid4().hex
        timing: dict[str, float] = {}
        server_fields: dict[str, Any] = {}

        async def generate(context_ids: list[int], max_tokens: int) -> Generation:
            # Only `stop` (vLLM and SGLang both take it); the protocol cuts the ids anyway, because
            # the text a server returns may drop the stop string but its token ids do not.
            params = {**sampling_params, "max_tokens": max_tokens, "stop": list(STOP_STRINGS)}
            with simple_timer("generate_sequences", timing):
                output = await self.server_manager.generate(
                    request_id=request_id, prompt_ids=context_ids, sampling_params=params
                )
            if not server_fields:
                server_fields.update(output.extra_fields or {})
            elif (output.extra_fields or {}).get("max_global_steps") is not None:
                server_fields["max_global_steps"] = output.extra_fields["max_global_steps"]
            return Generation(list(output.token_ids),
                              list(output.log_probs) if output.log_probs is not None else None)

        async def search(query: str, turn: int) -> SearchOutcome:
            with simple_timer("tool_calls", timing):
                return await self.searcher.search(query, sample.context(turn))

        traj: Trajectory = await self.protocol.run(prompt_ids, generate, search)
        metrics = AgentLoopMetrics(generate_sequences=timing.get("generate_sequences", 0.0),
                                   tool_calls=timing.get("tool_calls", 0.0))
        extra_fields: dict[str, Any] = {
            **server_fields,
            "turn_scores": [],
            "tool_rewards": [],
            **search_report(traj.searches),
            "invalid_actions": traj.invalid_actions,
            "answered": traj.answered,
            "search_step": sample.step,
            "search_rollout": sample.rollout,
            POLICY_TEXT_KEY: traj.policy_text,
        }
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=traj.response_ids,
            response_mask=traj.response_mask,
            response_logprobs=traj.response_logprobs if traj.logprobs_complete else None,
            num_turns=len(traj.turns) + traj.observations + 1,
            metrics=metrics,
            extra_fields=extra_fields,
        )
