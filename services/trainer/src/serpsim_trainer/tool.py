"""The search tool for models that call tools natively (verl's `hermes` format), on the same
`Searcher` as the tag-protocol agent loop, plus `SearchToolAgentLoop`: verl's `ToolAgentLoop`
that forwards the training step, split, sample identity and rollout index into the tool's
`create_kwargs` (verl.md §2B: `ToolAgentLoop` does not pass them on by itself).

Config: `configs/search_tool.yaml`, loaded by verl through
`actor_rollout_ref.rollout.multi_turn.tool_config_path`. verl truncates tool responses to
`multi_turn.max_tool_response_length` CHARACTERS (default 256): our run configs raise it so five
documents fit (`MIN_TOOL_RESPONSE_CHARS`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from .reward import gold_answers
from .search import SearchContext, Searcher, SearchSettings

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
class _Instance:
    ctx: SearchContext
    trajectory: str | None
    turns: int = 0


@dataclass
class TrajectoryStats:
    search_calls: int = 0
    search_failures: int = 0
    qualities: list[str | None] = field(default_factory=list)


class SearchTool(BaseTool):
    """verl `BaseTool`; one instance per agent-loop worker, state per `instance_id`."""

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        self.settings = SearchSettings.model_validate(dict(config or {}))
        self.searcher = Searcher(self.settings)
        self._instances: dict[str, _Instance] = {}
        self._stats: dict[str, TrajectoryStats] = {}
        super().__init__(dict(config or {}), tool_schema)  # type: ignore[arg-type]

    def get_openai_tool_schema(self) -> OpenAIFunctionToolSchema:
        return OpenAIFunctionToolSchema.model_validate(DEFAULT_SCHEMA)

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        instance_id = instance_id or str(uuid4())
        ck = dict(kwargs.get("create_kwargs") or {})
        gt = ck.get("ground_truth")
        golds = gold_answers(gt) if gt is not None else []
        ctx = SearchContext(
            step=int(ck.get("global_steps") or 0),
            split=str(ck.get("split") or "train"),
            uid=str(ck.get("uid") or ""),
            rollout=int(ck.get("rollout") or 0),
            question=ck.get("question"),
            answer=ck.get("answer") or (golds[0] if golds else None),
        )
        self._instances[instance_id] = _Instance(ctx=ctx, trajectory=ck.get("trajectory_id"))
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict]:
        inst = self._instances.get(instance_id) or _Instance(ctx=SearchContext(), trajectory=None)
        query = parameters.get("query")
        queries = [query] if isinstance(query, str) else list(parameters.get("query_list") or [])
        queries = [q for q in queries if isinstance(q, str) and q.strip()]
        if not queries:
            return ToolResponse(text="Error: the search tool needs a non-empty `query` string."), 0.0, {"ok": False}
        texts, failures, qualities = [], 0, []
        base = inst.ctx
        agent_data = kwargs.get("agent_data")
        if base.step == 0 and agent_data is not None:
            # Plain `tool_agent` forwards no step: fall back to the rollout server's weights
            # version (verl.md §2A; one behind the trainer's step, fine for a curriculum).
            version = (getattr(agent_data, "extra_fields", None) or {}).get("global_steps")
            if version is not None:
                base = SearchContext(**{**base.__dict__, "step": int(version)})
        for q in queries:
            ctx = SearchContext(**{**base.__dict__, "turn": inst.turns})
            inst.turns += 1
            outcome = await self.searcher.search(q, ctx)
            texts.append(outcome.text)
            failures += not outcome.ok
            qualities.append(outcome.quality)
        if inst.trajectory is not None:
            stats = self._stats.setdefault(inst.trajectory, TrajectoryStats())
            stats.search_calls += len(queries)
            stats.search_failures += failures
            stats.qualities.extend(qualities)
        if self.settings.stop_on_failure_rate:
            self.searcher.check_failure_rate(inst.ctx.step, inst.ctx.split)
        metrics = {"search_calls": len(queries), "search_failures": failures, "qualities": qualities}
        return ToolResponse(text="\n\n".join(texts)), 0.0, metrics

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self._instances.pop(instance_id, None)

    def pop_trajectory_stats(self, trajectory_id: str) -> TrajectoryStats:
        return self._stats.pop(trajectory_id, TrajectoryStats())


class SearchToolAgentLoop(ToolAgentLoop):
    """`ToolAgentLoop` whose search tool knows the step, split, sample and rollout it serves."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
        from .agent_loop import _scalar, sample_identity

        step = int(_scalar(kwargs.get("global_steps")) or 0)
        uid, question, answer, split = sample_identity(kwargs)
        session = _scalar(kwargs.get("session_id"))
        search_tools = [t for t in self.tools.values() if isinstance(t, SearchTool)]
        rollout = int(session) if session is not None else (
            search_tools[0].searcher.next_rollout(step, split, uid) if search_tools else 0
        )
        trajectory_id = uuid4().hex
        tools_kwargs = {name: dict(v) for name, v in dict(kwargs.get("tools_kwargs") or {}).items()}
        for name, tool in self.tools.items():
            if not isinstance(tool, SearchTool):
                continue
            ck = dict(tools_kwargs.get(name, {}).get("create_kwargs", {}))
            ck.update(global_steps=step, split=split, uid=uid, rollout=rollout, trajectory_id=trajectory_id)
            ck.setdefault("question", question)
            ck.setdefault("answer", answer)
            tools_kwargs.setdefault(name, {})["create_kwargs"] = ck
        kwargs["tools_kwargs"] = tools_kwargs
        output = await super().run(sampling_params, **kwargs)
        for tool in search_tools:
            stats = tool.pop_trajectory_stats(trajectory_id)
            output.extra_fields["search_calls"] = output.extra_fields.get("search_calls", 0) + stats.search_calls
            output.extra_fields["search_failures"] = (
                output.extra_fields.get("search_failures", 0) + stats.search_failures
            )
            output.extra_fields["search_noisy"] = sum(q == "noisy" for q in stats.qualities)
            output.extra_fields["search_qualities"] = stats.qualities
        return output
