"""ZeroSearch's four simulation templates, byte-exact (reference: ZeroSearch `llm_agent/generation.py`).

They live in the protocol package because two sides must agree on them byte for byte: the
simulator renders them for its engines, and the trainer's simulation-tuning pipeline writes its
SFT set in them (it reaches the simulator only over HTTP, so it cannot import the simulator).

The released simulation checkpoints were fine-tuned on exactly these strings, so `sft` is the
default mode; `prompt` is the few-shot variant for untuned instruct models. Every template asks
for five documents, as the checkpoints were trained to.

Hint-free wording: a plain SerpApi client sends no `question` and no `answer`. Then the line
`The user is trying to answer the question: "..." whose answer is ....` is left out and nothing
else changes, so no answer ever reaches the prompt. With only a question the line ends after the
question; with only an answer it names no question.
"""

from __future__ import annotations

import re
from typing import Literal

from .common import Quality

PromptMode = Literal["sft", "prompt"]
"""`sft`: the templates the released checkpoints were tuned on; `prompt`: few-shot, for untuned models."""

SFT_USEFUL = (
    "You are the Google search engine.\n"
    "Given a query, you need to generate five useful documents for the query.\n"
    "\n"
    "{hint}"
    "Each document should contain about 30 words, and these documents should contain useful information.\n"
    "\n"
    "Query: {query}\n"
    "Useful Output:\n"
)

SFT_NOISY = (
    "You are the Google search engine.\n"
    "Given a query, you need to generate five noisy documents for the query.\n"
    "\n"
    "{hint}"
    "Each document should contain about 30 words, and these documents should contain noisy information.\n"
    "\n"
    "Query: {query}\n"
    "Noisy Output:\n"
)

PROMPT_USEFUL = (
    "You are the Google search engine.\n"
    "Given a query, you need to imitate the style of the following demos and generate five useful documents for the query.\n"
    "\n"
    "Here is an example:\n"
    "Query: George Washington Bridge opening year\n"
    "Useful Output:\n"
    "Doc 1: The George Washington Bridge, an iconic structure connecting New York City to New Jersey, opened on October 25, 1931. Designed by Othmar Ammann, it marked a major milestone in civil engineering.\n"
    "Doc 2: Originally the Hudson River Bridge, the George Washington Bridge was named after the U.S.'s first president. Its 3,500-foot suspension span was the world's longest at completion in 1931.\n"
    "Doc 3: The bridge was modified in 1962 with added lower deck lanes, increasing capacity and easing congestion. This expansion transformed the bridge into a double-decked structure with twelve lanes.\n"
    "Doc 4: Constructed over four years, the George Washington Bridge's steel towers and cables exemplified engineering progress. It crucially linked New York and New Jersey's transportation networks.\n"
    "Doc 5: Handling over 103 million annual vehicles, the George Washington Bridge is globally one of the busiest. The Port Authority of NY and NJ oversees its traffic and infrastructure maintenance.\n"
    "\n"
    "{hint}"
    "You should generate documents that can help the user find the answer.\n"
    "Each document should contain about 30 words.\n"
    "You must directly output the English documents and not output any other texts.\n"
    "\n"
    "Query: {query}\n"
    "Useful Output:\n"
)

# The trailing space after "engine." on the first line is in ZeroSearch's source; keep it.
# This template never carried the question or the answer.
PROMPT_NOISY = (
    "You are the Google search engine. \n"
    "Given a query, you need to imitate the style of the following demos and generate five related but noisy documents for the query.\n"
    "\n"
    "Here is an example:\n"
    "Query: George Washington Bridge opening year\n"
    "Noisy Output:\n"
    "Doc 1: The George Washington Bridge was a significant addition to New York's infrastructure, but there were many challenges during its construction, including budget overruns and worker strikes.\n"
    "Doc 2: While often mistaken for the opening of another iconic bridge, the Brooklyn Bridge, the George Washington Bridge has its own storied history involving political maneuvering and urban planning debates that shaped the bridge's final design.\n"
    "Doc 3: Discussions about the naming of the George Washington Bridge are interesting, as it was named to honor the first President of the United States. The name choice was significant given the geographical and historical implications of Washington's legacy.\n"
    "Doc 4: The bridge has been a point of contention over toll increases, traffic congestion solutions, and environmental impact assessments, which continue to affect policy decisions in the area.\n"
    "Doc 5: Considerations around the visual and architectural design of the George Washington Bridge also played a crucial role in its legacy as a landmark, balancing aesthetics with functionality.\n"
    "\n"
    "Each document should contain about 30 words, and these documents should contain related but noisy information.\n"
    "You must directly output the English documents and not output any other texts.\n"
    "\n"
    "Query: {query}\n"
    "Noisy Output:\n"
)

TEMPLATES: dict[tuple[PromptMode, Quality], str] = {
    ("sft", "useful"): SFT_USEFUL,
    ("sft", "noisy"): SFT_NOISY,
    ("prompt", "useful"): PROMPT_USEFUL,
    ("prompt", "noisy"): PROMPT_NOISY,
}

DOCS_PER_GENERATION = 5
"""Every template asks for five documents."""


def generations_for(num: int) -> int:
    """Engine completions one search of `num` documents takes: every template asks for five."""
    return max(1, -(-num // DOCS_PER_GENERATION))


_PLACEHOLDER = re.compile(r"\{(hint|query)\}")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def one_line(text: str) -> str:
    """Collapse line breaks so a field cannot add lines (e.g. a second `Query:`) to the template."""
    return _LINE_BREAKS.sub(" ", text).strip()


def hint_line(question: str | None, answer: str | None) -> str:
    question = one_line(question) if question else ""
    answer = one_line(answer) if answer else ""
    if question and answer:
        return f'The user is trying to answer the question: "{question}" whose answer is {answer}.\n'
    if question:
        return f'The user is trying to answer the question: "{question}".\n'
    if answer:
        return f"The user is trying to answer a question whose answer is {answer}.\n"
    return ""


def build_prompt(
    query: str,
    quality: Quality,
    mode: PromptMode = "sft",
    question: str | None = None,
    answer: str | None = None,
) -> str:
    """The user-turn text for one simulated search."""
    values = {"hint": hint_line(question, answer), "query": one_line(query)}
    # One pass, not str.format or chained replace: user text may itself contain "{query}" or braces.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], TEMPLATES[(mode, quality)])
