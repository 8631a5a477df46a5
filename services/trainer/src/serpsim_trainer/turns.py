"""The one turn protocol: how a policy's trajectory unfolds, for verl's agent loop, `eval` and `ask`.

ZeroSearch's rules (reference/zerosearch.md §4.2), on token ids:
- each turn the policy generates at most `max_tokens_per_turn` tokens (and never past the
  trajectory's budget), stopping at `</search>` or `</answer>`; the ids are cut right after the
  first closing tag, because servers may return text (and ids) past it;
- `<answer>` ends the trajectory; `<search>` gets `\\n\\n<information>docs</information>\\n\\n`, the
  documents cut to `max_obs_tokens` tokens (the block always closes); anything else gets the
  invalid-action message. Injected tokens carry mask 0, the policy's tokens mask 1;
- after `max_turns` action turns, one final generation in which only an answer counts;
- an end-of-sequence token mid-trajectory is dropped (the trajectory goes on after it).

What differs between callers is only how a turn is generated (verl's server manager, an
OpenAI-compatible server, a local model) and searched (a `Searcher` with the caller's context).
The policy's own text (`Trajectory.policy_text`) is what the reward and `eval` score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .search import AgentSettings, SearchOutcome
from .tags import (
    INFORMATION_CLOSE,
    INFORMATION_OPEN,
    INVALID_ACTION_MESSAGE,
    ActionKind,
    cut_token_ids,
    parse_action,
)


@dataclass
class Generation:
    """One turn's continuation: token ids and, when the generator has them, their log-probs."""

    token_ids: list[int]
    log_probs: list[float] | None = None


Generate = Callable[[list[int], int], Awaitable[Generation]]
"""(context ids = prompt + response so far, max new tokens) -> the policy's continuation."""
Search = Callable[[str, int], Awaitable[SearchOutcome]]
"""(query, turn index) -> the search's outcome."""
OnTurn = Callable[["Turn"], Awaitable[None] | None]


@dataclass
class Turn:
    index: int
    text: str
    """The policy's own text of this turn (its kept tokens, decoded)."""
    action: ActionKind
    content: str = ""
    observation: str | None = None
    """What the protocol appended after the turn (decoded), if anything."""
    search: SearchOutcome | None = None


@dataclass
class Trajectory:
    prompt_ids: list[int]
    response_ids: list[int] = field(default_factory=list)
    response_mask: list[int] = field(default_factory=list)
    response_logprobs: list[float] = field(default_factory=list)
    logprobs_complete: bool = True
    turns: list[Turn] = field(default_factory=list)
    answered: bool = False

    @property
    def policy_text(self) -> str:
        """Everything the policy wrote, nothing that was injected: what the reward scores."""
        return "".join(t.text for t in self.turns)

    @property
    def searches(self) -> list[SearchOutcome]:
        return [t.search for t in self.turns if t.search is not None]

    @property
    def invalid_actions(self) -> int:
        return sum(t.action == "invalid" and t.observation is not None for t in self.turns)

    @property
    def observations(self) -> int:
        return sum(t.observation is not None for t in self.turns)

    def add(self, ids: Sequence[int], mask: int, logprobs: Sequence[float] | None = None) -> None:
        self.response_ids.extend(ids)
        self.response_mask.extend([mask] * len(ids))
        if logprobs is not None and len(logprobs) >= len(ids):
            self.response_logprobs.extend(list(logprobs)[: len(ids)])
        else:
            if mask == 1 and ids:
                self.logprobs_complete = False
            self.response_logprobs.extend([0.0] * len(ids))


def render_prompt(tokenizer: Any, messages: Sequence[dict[str, Any]] | str, prompt_format: str = "auto",
                  **chat_template_kwargs: Any) -> list[int]:
    """The prompt's token ids: the tokenizer's own chat template (`auto` when it has one, or `chat`),
    else the messages' text itself (`plain`, base models without a template)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    messages = [dict(m) for m in messages]
    use_chat = prompt_format == "chat" or (prompt_format == "auto" and getattr(tokenizer, "chat_template", None))
    if use_chat:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                             **chat_template_kwargs)
    else:
        text = "\n\n".join(str(m.get("content", "")) for m in messages if m.get("content"))
    return list(tokenizer.encode(text, add_special_tokens=False))


class TurnProtocol:
    """The rules above for one tokenizer, one `AgentSettings` and one trajectory budget (tokens)."""

    def __init__(self, tokenizer: Any, agent: AgentSettings, response_length: int) -> None:
        self.tokenizer = tokenizer
        self.agent = agent
        self.response_length = response_length
        self.eos_ids = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
        self._open = self.encode(INFORMATION_OPEN)
        self._close = self.encode(INFORMATION_CLOSE)
        self._invalid = self.encode(INVALID_ACTION_MESSAGE)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def observation_ids(self, docs: str) -> list[int]:
        """`\\n\\n<information>docs</information>\\n\\n`, at most `max_obs_tokens` tokens, always closed."""
        room = max(self.agent.max_obs_tokens - len(self._open) - len(self._close), 0)
        return self._open + self.encode(docs.strip())[:room] + self._close

    async def run(self, prompt_ids: list[int], generate: Generate, search: Search,
                  on_turn: OnTurn | None = None) -> Trajectory:
        agent = self.agent
        traj = Trajectory(prompt_ids=list(prompt_ids))
        for index in range(agent.max_turns + int(agent.final_turn)):
            remaining = self.response_length - len(traj.response_ids)
            if remaining <= 0:
                break
            max_tokens = min(remaining, agent.max_tokens_per_turn or remaining)
            generation = await generate(traj.prompt_ids + traj.response_ids, max_tokens)
            ids = cut_token_ids(list(generation.token_ids)[:remaining], self.decode)
            logprobs = list(generation.log_probs)[: len(ids)] if generation.log_probs is not None else None
            action = parse_action(self.decode(ids))
            final = index >= agent.max_turns
            if action.kind != "answer" and not final and ids and ids[-1] in self.eos_ids:
                # An end-of-sequence token mid-trajectory would teach the model to stop and then go on.
                ids, logprobs = ids[:-1], (logprobs[:-1] if logprobs is not None else None)
            traj.add(ids, 1, logprobs)
            turn = Turn(index=index, text=self.decode(ids), action=action.kind, content=action.content)
            traj.turns.append(turn)
            if action.kind == "answer":
                traj.answered = True
            elif not final:  # the final generation's action is never executed (ZeroSearch)
                if action.kind == "search":
                    turn.search = await search(action.content, index)
                    obs = self.observation_ids(turn.search.text)
                else:
                    obs = self._invalid
                obs = obs[: self.response_length - len(traj.response_ids)]
                traj.add(obs, 0)
                turn.observation = self.decode(obs)
            if on_turn is not None:
                maybe = on_turn(turn)
                if asyncio.iscoroutine(maybe):
                    await maybe
            if action.kind == "answer" or final:
                break
        return traj
