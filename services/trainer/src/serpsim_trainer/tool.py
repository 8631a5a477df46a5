"""The search tool for models that call tools natively (verl's `hermes` format), on the same
`Searcher` as the tag-protocol agent loop, plus `SearchToolAgentLoop`: verl's `ToolAgentLoop`
that forwards the training step, split, sample identity and rollout index into the tool's
`create_kwargs` (verl.md §2B: `ToolAgentLoop` does not pass them on by itself).

verl creates, executes and releases a tool instance per CALL, so per-trajectory state (the turn
counter that makes each search of a trajectory its own seed and its own useful/noisy coin, and the
trajectory's search report) lives in the tool, keyed by a trajectory id the loop puts in
`create_kwargs`. A failed search never raises (verl would replace the tool's text with "Error
executing tool ..."); it is reported per trajectory, and the trainer bounds failures per step.

Config: `configs/search_tool.yaml`, loaded by verl through
`actor_rollout_ref.rollout.multi_turn.tool_config_path`. verl truncates tool responses to
`multi_turn.max_tool_response_length` CHARACTERS (default 256): our run configs raise it so five
documents fit (`MIN_TOOL_RESPONSE_CHARS`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from .agent_loop import sample_of, search_report
from .reward import POLICY_TEXT_KEY
from .search import SearchContext, Searcher, SearchOutcome, SearchSettings

logger = logging.getLogger(__name__)

MIN_TOOL_RESPONSE_CHARS = 4000
"""Five ~30-word simulated documents are ~1,000 characters; real snippets and titles run longer."""

DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web. Returns the top documents for the query.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "the search query"}},
            "required": ["query"],
        },
    },
}


@dataclass
class _Trajectory:
    """One trajectory's searches across verl's per-call tool instances."""

    base: SearchContext
    turns: int = 0
    outcomes: list[SearchOutcome] = field(default_factory=list)


class SearchTool(BaseTool):
    """verl `BaseTool`; one instance per agent-loop worker, state per trajectory and per `instance_id`."""

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        self.settings = SearchSettings.model_validate(dict(config or {}))
        self.searcher = Searcher(self.settings)
        self._trajectories: dict[str, _Trajectory] = {}
        self._instances: dict[str, tuple[_Trajectory, list[int]]] = {}
        super().__init__(dict(config or {}), tool_schema)  # type: ignore[arg-type]

    def get_openai_tool_schema(self) -> OpenAIFunctionToolSchema:
        return OpenAIFunctionToolSchema.model_validate(DEFAULT_SCHEMA)

    def open_trajectory(self, context: SearchContext) -> str:
        trajectory_id = uuid4().hex
        self._trajectories[trajectory_id] = _Trajectory(base=context)
        return trajectory_id

    def close_trajectory(self, trajectory_id: str) -> list[SearchOutcome]:
        trajectory = self._trajectories.pop(trajectory_id, None)
        return trajectory.outcomes if trajectory is not None else []

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        instance_id = instance_id or str(uuid4())
        ck = dict(kwargs.get("create_kwargs") or {})
        trajectory = self._trajectories.get(str(ck.get("trajectory_id")))
        if trajectory is None:
            # Plain `tool_agent` (not our loop): a trajectory of its own, known only by this call.
            trajectory = _Trajectory(base=SearchContext(split=str(ck.get("split") or "unknown"),
                                                        uid=str(ck.get("uid") or instance_id)))
        # The call's turn is taken here, in call order: verl creates the instances of one turn's
        # parallel calls in order, before any of them searches.
        self._instances[instance_id] = (trajectory, [trajectory.turns])
        trajectory.turns += 1
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict]:
        trajectory, turns = self._instances.get(instance_id) or (_Trajectory(base=SearchContext()), [0])
        query = parameters.get("query")
        queries = [query] if isinstance(query, str) else list(parameters.get("query_list") or [])
        queries = [q for q in queries if isinstance(q, str) and q.strip()]
        if not queries:
            return ToolResponse(text="Error: the search tool needs a non-empty `query` string."), 0.0, {"ok": False}
        # A `query_list` takes further turns after those reserved at create.
        while len(turns) < len(queries):
            turns.append(trajectory.turns)
            trajectory.turns += 1
        outcomes = []
        for q, turn in zip(queries, turns, strict=False):
            outcome = await self.searcher.search(q, SearchContext(**{**trajectory.base.__dict__, "turn": turn}))
            outcomes.append(outcome)
        trajectory.outcomes += outcomes
        metrics = {"search_calls": len(outcomes), "search_failures": sum(not o.ok for o in outcomes)}
        return ToolResponse(text="\n\n".join(o.text for o in outcomes)), 0.0, metrics

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self._instances.pop(instance_id, None)


class SearchToolAgentLoop(ToolAgentLoop):
    """`ToolAgentLoop` whose search tool knows the step, split, sample and rollout it serves, and
    whose output reports the trajectory's searches and the policy's own text (mask-1 tokens)."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
        search_tools = {name: t for name, t in self.tools.items() if isinstance(t, SearchTool)}
        if not search_tools:
            return await super().run(sampling_params, **kwargs)
        sample = sample_of(kwargs, next(iter(search_tools.values())).searcher)
        tools_kwargs = {name: dict(v) for name, v in dict(kwargs.get("tools_kwargs") or {}).items()}
        opened: dict[str, str] = {}
        for name, tool in search_tools.items():
            opened[name] = tool.open_trajectory(sample.context(turn=0))
            ck = dict(tools_kwargs.get(name, {}).get("create_kwargs", {}))
            ck.update(trajectory_id=opened[name])
            tools_kwargs.setdefault(name, {})["create_kwargs"] = ck
        kwargs["tools_kwargs"] = tools_kwargs
        outcomes: list[SearchOutcome] = []
        try:
            output = await super().run(sampling_params, **kwargs)
        finally:
            for name, tool in search_tools.items():
                outcomes += tool.close_trajectory(opened[name])
        output.extra_fields.update(search_report(outcomes))
        output.extra_fields[POLICY_TEXT_KEY] = self._policy_text(output.response_ids, output.response_mask)
        return output

    def _policy_text(self, ids: list[int], mask: list[int]) -> str:
        """The decoded mask-1 spans: what the policy generated, without tool responses or template tokens."""
        spans = [[t for t, _ in group] for m, group in groupby(zip(ids, mask, strict=True), key=lambda p: p[1]) if m == 1]
        return "".join(self.tokenizer.decode(span, skip_special_tokens=True) for span in spans)
