"""`judge`: label each (query, documents) pair useful or noisy, then balance the two classes.

Three judges (reference/zerosearch.md §3):

- `rule`: offline; useful when a gold answer occurs in the documents (SQuAD-normalised, whole words);
- `llm`: ZeroSearch v2, "the LLM as the judge": any OpenAI-compatible chat endpoint answers
  `JUDGE_PROMPT` with one word. The reply is parsed strictly (`parse_verdict`); a reply that is
  neither verdict is retried a bounded number of times, then counted and left out, never guessed;
- `outcome`: ZeroSearch v1: every search of a trajectory whose final answer is right (exact
  match) is useful, every search of a wrong one noisy.

ZeroSearch balanced positives and negatives (issue #25): the larger class is downsampled, seeded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
from serpsim_protocol.prompts import one_line

from ..reward import score_prediction
from .records import LABELS, JudgedRecord, Label, SearchRecord, target_documents
from .textstats import contains_answer

logger = logging.getLogger(__name__)

JudgeKind = Literal["rule", "llm", "outcome"]
JUDGES: tuple[JudgeKind, ...] = ("rule", "llm", "outcome")

JUDGE_PROMPT = (
    "You are grading the results of a web search.\n"
    "Question: {question}\n"
    "Correct answer: {answers}\n"
    "Search query: {query}\n"
    "Search results:\n"
    "{documents}\n"
    "\n"
    "Do these search results contain the information needed to find the correct answer to the question? "
    "Reply with exactly one word: useful if they do, noisy if they do not.\n"
)
"""The LLM judge's user turn (also in the README). Gold answers are given: the judge checks that
the documents support them, it does not answer the question itself."""

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_VERDICT = re.compile(r"\b(not\s+useful|useful|noisy)\b", re.IGNORECASE)
_TERMINAL = re.compile(r"[\s*_`\"')\]]*(?:[.!:;\n]|$)")
_LEADING = re.compile(r"^[\s*_`\"'([{>#-]*(?:(?:verdict|answer|label)\s*[:=-]\s*[\s*_`\"'([{]*)?", re.IGNORECASE)


def judge_prompt(record: SearchRecord) -> str:
    docs = "\n".join(f"Doc {i}: {one_line(d)}" for i, d in enumerate(target_documents(record), start=1))
    return JUDGE_PROMPT.format(question=one_line(record.question), answers=" / ".join(one_line(a) for a in record.answers),
                               query=one_line(record.query), documents=docs)


def _as_label(word: str) -> Label:
    return "useful" if word.lower() == "useful" else "noisy"  # "not useful" -> noisy


def parse_verdict(reply: str) -> Label | None:
    """`useful` or `noisy` from a judge's reply, or None when the reply is not a clear verdict.

    Reasoning in `<think>` blocks is ignored. A reply that starts with a verdict (after quotes,
    markdown or a `Verdict:` prefix) and closes there (`Useful. The documents ...`) is that
    verdict; otherwise exactly one distinct verdict must occur in it ("not useful" counts as
    noisy). Anything else (`useful or noisy? It depends.`) is garbage.
    """
    text = _THINK.sub(" ", reply or "")
    found = {_as_label(m.group(1)) for m in _VERDICT.finditer(text)}
    if len(found) == 1:
        return found.pop()
    head = _VERDICT.match(_LEADING.sub("", text, count=1))
    if found and head and _TERMINAL.match(text, head.end()):
        return _as_label(head.group(1))
    return None


def rule_verdict(record: SearchRecord) -> Label:
    return "useful" if contains_answer(target_documents(record), record.answers) else "noisy"


def outcome_verdict(record: SearchRecord) -> Label:
    return "useful" if score_prediction(record.final_answer, record.answers)["em"] == 1.0 else "noisy"


class LLMJudge:
    """An OpenAI-compatible chat endpoint as the judge, with bounded retries."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        retries: int = 2,
        timeout_s: float = 60.0,
        max_tokens: int = 16,
        temperature: float = 0.0,
        retry_temperature: float = 0.7,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        base = url.rstrip("/")
        self._url = (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"
        self.model, self.retries, self.max_tokens = model, retries, max_tokens
        self.temperature, self.retry_temperature = temperature, retry_temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport, headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _ask(self, prompt: str, temperature: float) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": self.max_tokens, "temperature": temperature}
        response = await self._http.post(self._url, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"judge HTTP {response.status_code}: {response.text[:200]}")
        return str(response.json()["choices"][0]["message"].get("content") or "")

    async def verdict(self, record: SearchRecord) -> tuple[Label | None, str]:
        """(label, last reply or error). Garbage and failed calls are retried `retries` times; a
        deterministic first try, then `retry_temperature`, since greedy decoding repeats itself."""
        prompt = judge_prompt(record)
        last = ""
        for attempt in range(self.retries + 1):
            try:
                last = await self._ask(prompt, self.temperature if attempt == 0 else self.retry_temperature)
            except (httpx.HTTPError, RuntimeError, KeyError, IndexError, TypeError, ValueError) as exc:
                last = f"error: {type(exc).__name__}: {exc}"
                if attempt < self.retries:
                    await asyncio.sleep(min(2.0, 0.25 * 2**attempt))  # an overloaded server gets a moment
                continue
            label = parse_verdict(last)
            if label is not None:
                return label, last
        return None, last


class JudgeFailed(RuntimeError):
    """The judge gave too few usable verdicts (a wrong model, URL or prompt format)."""


@dataclass
class JudgeStats:
    judge: str
    records: int = 0
    useful: int = 0
    noisy: int = 0
    garbage: int = 0
    no_documents: int = 0
    garbage_examples: list[str] = field(default_factory=list)


async def judge_records(
    records: Sequence[SearchRecord],
    kind: JudgeKind,
    *,
    llm: LLMJudge | None = None,
    concurrency: int = 8,
    max_garbage_rate: float = 0.5,
    progress: bool = True,
) -> tuple[list[JudgedRecord], JudgeStats]:
    """Every record with a verdict (garbage left out), in input order; raises `JudgeFailed` when
    more than `max_garbage_rate` of the LLM judge's replies were garbage."""
    from tqdm.auto import tqdm

    if not records:
        raise ValueError("no search records to judge: the collection is empty (did `collect` find any documents?)")
    if kind == "llm" and llm is None:
        raise ValueError("the llm judge needs --judge-url and --judge-model")
    stats = JudgeStats(judge=kind if kind != "llm" or llm is None else f"llm:{llm.model}", records=len(records))
    labels: list[Label | None] = [None] * len(records)
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(records), desc=f"judge ({kind})", unit="pair", disable=not progress)

    async def one(index: int, record: SearchRecord) -> None:
        try:
            if not target_documents(record):
                stats.no_documents += 1
                return
            if kind == "rule":
                labels[index] = rule_verdict(record)
            elif kind == "outcome":
                labels[index] = outcome_verdict(record)
            else:
                assert llm is not None
                async with gate:
                    label, reply = await llm.verdict(record)
                labels[index] = label
                if label is None:
                    stats.garbage += 1
                    if len(stats.garbage_examples) < 5:
                        stats.garbage_examples.append(reply[:200])
        finally:
            bar.update(1)

    try:
        await asyncio.gather(*(one(i, r) for i, r in enumerate(records)))
    finally:
        bar.close()
    if kind == "llm" and stats.garbage > max_garbage_rate * len(records):
        raise JudgeFailed(
            f"the judge gave no clear verdict for {stats.garbage} of {len(records)} pairs (bound "
            f"{max_garbage_rate:.0%}); check --judge-url/--judge-model. Replies: {stats.garbage_examples[:3]!r}"
        )
    judged = [JudgedRecord(**r.model_dump(), label=label, judge=stats.judge)
              for r, label in zip(records, labels) if label is not None]
    stats.useful = sum(r.label == "useful" for r in judged)
    stats.noisy = len(judged) - stats.useful
    return judged, stats


def balance(records: Sequence[JudgedRecord], seed: int = 0) -> list[JudgedRecord]:
    """Downsample the larger class to the smaller one's size (seeded); input order is kept."""
    by_label: dict[str, list[int]] = {label: [] for label in LABELS}
    for i, r in enumerate(records):
        by_label[r.label].append(i)
    if not records:
        raise ValueError("no judged pairs to balance: every pair was left out")
    n = min(len(v) for v in by_label.values())
    if n == 0:
        only = next(label for label, v in by_label.items() if v)
        raise ValueError(
            f"all {len(records)} judged pairs are {only}: a simulator needs both classes to learn the "
            "difference (collect more questions, or check the judge)"
        )
    rng = random.Random(seed)
    keep = {i for indices in by_label.values() for i in (indices if len(indices) == n else rng.sample(indices, n))}
    return [r for i, r in enumerate(records) if i in keep]


def summary(stats: JudgeStats, kept: Sequence[JudgedRecord]) -> dict[str, Any]:
    """The label counts before and after balancing."""
    useful = sum(r.label == "useful" for r in kept)
    return {**asdict(stats), "kept_useful": useful, "kept_noisy": len(kept) - useful}
