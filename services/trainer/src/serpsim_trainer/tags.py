"""The ZeroSearch / Search-R1 tag protocol's strings and pure functions (reference/zerosearch.md
§1.2-§1.3, §4.2). `turns.TurnProtocol` applies them, for the verl agent loop, `eval` and `ask` alike.

The policy writes `<think>...</think>`, then either `<search>query</search>` or
`<answer>...</answer>`. A search is answered with `\\n\\n<information>docs</information>\\n\\n`,
anything else with ZeroSearch's invalid-action message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

SEARCH_R1_INSTRUCTION = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> first every time you get "
    "new information. After reasoning, if you find you lack some knowledge, you can call a search engine by "
    "<search> query </search> and it will return the top searched results between <information> and "
    "</information>. You can search as many times as your want. If you find no further external knowledge needed, "
    "you can directly provide the answer inside <answer> and </answer>, without detailed illustrations. For "
    "example, <answer> Beijing </answer>. Question: {question}\n"
)
"""Search-R1's template, byte-exact as ZeroSearch's `inference.py` uses it (zerosearch.md §1.3)."""

STOP_STRINGS: tuple[str, ...] = ("</search>", "</answer>")

INVALID_ACTION_MESSAGE = (
    "\nMy previous action is invalid. If I want to search, I should put the query between <search> and "
    "</search>. If I want to give the final answer, I should put the answer between <answer> and </answer>. "
    "Let me try again.\n"
)

NO_INFORMATION = "No information available"
"""ZeroSearch's observation when a search fails (we also count and log the failure)."""

INFORMATION_OPEN = "\n\n<information>"
INFORMATION_CLOSE = "</information>\n\n"

_ACTION_RE = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_INFORMATION_BLOCK_RE = re.compile(re.escape(INFORMATION_OPEN) + r".*?" + re.escape(INFORMATION_CLOSE), re.DOTALL)

ActionKind = Literal["search", "answer", "invalid"]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    content: str = ""


def format_question(question: str) -> str:
    """Search-R1's data prep: strip, and end the question with '?'."""
    question = question.strip()
    return question if question.endswith("?") else question + "?"


def instruction_for(question: str) -> str:
    return SEARCH_R1_INSTRUCTION.format(question=format_question(question))


def cut_at_stop(text: str) -> str:
    """Keep `text` up to and including the first `</search>` or `</answer>` (ZeroSearch cut after
    generation too, because vLLM ignored stop strings in its setup)."""
    ends = [i + len(tag) for tag in STOP_STRINGS if (i := text.find(tag)) >= 0]
    return text[: min(ends)] if ends else text


def parse_action(text: str) -> Action:
    """The first complete `<search>`/`<answer>` block of one turn's text; else invalid.

    An empty `<search></search>` is invalid too: there is nothing to search, a search API answers it
    with a 400, and counted as a failed search it would be the policy's mistake charged to the
    backend (and could stop a run under the failure bound)."""
    match = _ACTION_RE.search(cut_at_stop(text))
    if match is None:
        return Action("invalid")
    kind, content = match.group(1), match.group(2).strip()
    if kind == "search" and not content:
        return Action("invalid")
    return Action(kind, content)  # type: ignore[arg-type]


def information_block(docs: str) -> str:
    return f"{INFORMATION_OPEN}{docs.strip()}{INFORMATION_CLOSE}"


def last_answer(policy_text: str) -> str | None:
    """The last `<answer>...</answer>` of the policy's own text, or None."""
    matches = _ANSWER_RE.findall(policy_text or "")
    return matches[-1].strip() if matches else None


def strip_injected(text: str) -> str:
    """A whole trajectory's text without what the turn protocol injects: complete observation blocks
    (exactly as `information_block` writes them) and the invalid-action message.

    Only for trajectories that come without the policy's own text (`TurnProtocol` reports it; see
    `reward.policy_text`). An unmatched `<information>` is the policy's text and stays.
    """
    return _INFORMATION_BLOCK_RE.sub("", text or "").replace(INVALID_ACTION_MESSAGE, "")


def cut_token_ids(token_ids: Sequence[int], decode: Callable[[Sequence[int]], str]) -> list[int]:
    """The shortest prefix of `token_ids` whose text contains the first closing tag.

    Servers may ignore stop strings (or stop after a token that spans the tag); the ids the
    policy is trained on must end where the action ends. Binary search keeps decodes at O(log n).
    """
    ids = list(token_ids)
    if not _has_stop(decode(ids)):
        return ids
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if _has_stop(decode(ids[:mid])):
            hi = mid
        else:
            lo = mid + 1
    return ids[:lo]


def _has_stop(text: str) -> bool:
    return any(tag in text for tag in STOP_STRINGS)
