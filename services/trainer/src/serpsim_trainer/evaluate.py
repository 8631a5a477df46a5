"""Running a policy outside verl through the same tag protocol: `serpsim-train eval` and `ask`.

`run_episode` is the one episode function: the policy (any OpenAI-compatible server, or a local
Hugging Face model) writes until `</search>` or `</answer>`; a search goes through the same
`Searcher` the trainer uses, as the evaluation split (no gold answer, no injected noise); turns
follow the agent loop's rules (`max_turns` action turns, then one answer-only generation).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from .reward import METRICS, compute_score, gold_answers
from .search import AgentSettings, SearchContext, Searcher
from .tags import (
    INVALID_ACTION_MESSAGE,
    STOP_STRINGS,
    cut_at_stop,
    information_block,
    instruction_for,
    parse_action,
)

logger = logging.getLogger(__name__)

EVAL_SPLIT = "test"
DEFAULT_SYSTEM = "You are a helpful assistant."  # what Qwen2.5's chat template adds when none is given


class Policy(Protocol):
    async def complete(self, question: str, trajectory: str) -> str:
        """Continue the assistant's text `trajectory` for `question`; stop after a closing tag."""
        ...


def close_open_tag(text: str) -> str:
    """Servers drop the stop string from the text by default: put the closing tag back."""
    for tag in ("search", "answer"):
        opened, closed = text.rfind(f"<{tag}>"), text.rfind(f"</{tag}>")
        if opened > closed:
            return text + f"</{tag}>"
    return text


class OpenAIPolicy:
    """A policy behind an OpenAI-compatible server (vLLM, SGLang...).

    `completions`: the prompt is rendered here (`chatml` like Qwen's template, `plain` for base
    models, or a tokenizer's own chat template) and the trajectory appended, so the model continues
    its own turn exactly as in training. `chat`: the partial assistant message is continued with
    vLLM's `continue_final_message`.
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api: Literal["completions", "chat"] = "completions",
        prompt_format: Literal["chatml", "plain", "tokenizer"] = "chatml",
        tokenizer_path: str | None = None,
        max_tokens: int = 500,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model, self.api, self.prompt_format = model, api, prompt_format
        self.max_tokens, self.temperature = max_tokens, temperature
        self._tokenizer: Any = None
        if prompt_format == "tokenizer":
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or model)
        base = url.rstrip("/")
        self._base = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport, headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    def render(self, question: str) -> str:
        instruction = instruction_for(question)
        if self.prompt_format == "plain":
            return instruction
        if self.prompt_format == "tokenizer":
            return str(self._tokenizer.apply_chat_template(
                [{"role": "user", "content": instruction}], add_generation_prompt=True, tokenize=False
            ))
        return (f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n{instruction}<|im_end|>\n"
                "<|im_start|>assistant\n")

    async def complete(self, question: str, trajectory: str) -> str:
        common = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
                  "stop": list(STOP_STRINGS), "include_stop_str_in_output": True}
        if self.api == "completions":
            body = {**common, "prompt": self.render(question) + trajectory}
            data = await self._post("/completions", body)
            text = data["choices"][0].get("text") or ""
        else:
            messages = [{"role": "user", "content": instruction_for(question)}]
            body = dict(common)
            if trajectory:
                messages.append({"role": "assistant", "content": trajectory})
                body.update(continue_final_message=True, add_generation_prompt=False)
            body["messages"] = messages
            data = await self._post("/chat/completions", body)
            text = data["choices"][0]["message"].get("content") or ""
        return close_open_tag(cut_at_stop(text))

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.post(self._base + path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"policy server {path}: HTTP {response.status_code}: {response.text[:300]}")
        return dict(response.json())


class LocalPolicy:
    """A Hugging Face model directory run in-process (CPU or GPU), greedy; for `ask`."""

    def __init__(self, model_path: str, *, max_tokens: int = 500, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.max_tokens = max_tokens

    def render(self, question: str) -> str:
        instruction = instruction_for(question)
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(
                [{"role": "user", "content": instruction}], add_generation_prompt=True, tokenize=False
            ))
        return instruction

    def _generate(self, prompt: str) -> str:
        import torch

        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        with torch.no_grad():
            out = self.model.generate(
                **ids, max_new_tokens=self.max_tokens, do_sample=False, stop_strings=list(STOP_STRINGS),
                tokenizer=self.tokenizer,
            )
        return str(self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))

    async def complete(self, question: str, trajectory: str) -> str:
        text = await asyncio.to_thread(self._generate, self.render(question) + trajectory)
        return close_open_tag(cut_at_stop(text))


@dataclass
class Turn:
    text: str
    action: str
    content: str = ""
    documents: str | None = None
    search_ok: bool | None = None


@dataclass
class Episode:
    question: str
    answers: list[str]
    trajectory: str = ""
    turns: list[Turn] = field(default_factory=list)
    searches: int = 0
    search_failures: int = 0
    prediction: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None


async def run_episode(
    policy: Policy,
    searcher: Searcher,
    question: str,
    *,
    answers: Sequence[str] = (),
    uid: str = "",
    agent: AgentSettings | None = None,
    on_turn: Callable[[Turn], Awaitable[None] | None] | None = None,
) -> Episode:
    """One question through the tag protocol, scored when gold `answers` are given."""
    agent = agent or AgentSettings()
    episode = Episode(question=question, answers=list(answers))
    for turn_index in range(agent.max_turns + int(agent.final_turn)):
        text = await policy.complete(question, episode.trajectory)
        episode.trajectory += text
        action = parse_action(text)
        turn = Turn(text=text, action=action.kind, content=action.content)
        episode.turns.append(turn)
        final = turn_index >= agent.max_turns
        if action.kind == "search" and not final:
            ctx = SearchContext(step=0, split=EVAL_SPLIT, uid=uid, turn=turn_index)
            outcome = await searcher.search(action.content, ctx)
            episode.searches += 1
            episode.search_failures += not outcome.ok
            turn.documents, turn.search_ok = outcome.text, outcome.ok
            episode.trajectory += information_block(outcome.text)
        elif action.kind == "invalid" and not final:
            episode.trajectory += INVALID_ACTION_MESSAGE
        if on_turn is not None:
            maybe = on_turn(turn)
            if asyncio.iscoroutine(maybe):
                await maybe
        if action.kind == "answer" or final:
            break
    result = compute_score(None, episode.trajectory, list(answers))
    episode.prediction = next((t.content for t in reversed(episode.turns) if t.action == "answer"), None)
    episode.scores = {m: float(result[m]) for m in METRICS}
    return episode


@dataclass
class SetResult:
    name: str
    n: int
    em: float
    cover_em: float
    f1: float
    searches_per_question: float
    failed_searches: int
    errors: int


def sample_rows(rows: list[dict[str, Any]], n: int | None, seed: int = 0) -> list[dict[str, Any]]:
    if n is None or n >= len(rows):
        return rows
    return random.Random(seed).sample(rows, n)


async def evaluate_sets(
    policy: Policy,
    searcher: Searcher,
    sets: dict[str, list[dict[str, Any]]],
    *,
    agent: AgentSettings | None = None,
    concurrency: int = 8,
    progress: bool = True,
    predictions_dir: Path | None = None,
) -> list[SetResult]:
    """Every row of every set (parquet rows from `prepare-data`), `concurrency` at a time."""
    from tqdm.auto import tqdm

    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=sum(len(r) for r in sets.values()), desc="eval", unit="q", disable=not progress)

    async def one(name: str, row: dict[str, Any]) -> Episode:
        extra = row.get("extra_info") or {}
        question = str(extra.get("question") or "")
        golds = gold_answers((row.get("reward_model") or {}).get("ground_truth"))
        async with gate:
            try:
                return await run_episode(policy, searcher, question, answers=golds, uid=str(extra.get("uid", "")),
                                         agent=agent)
            except Exception as exc:  # one broken request must not end a long evaluation
                logger.warning("%s: %r failed: %s", name, question, exc)
                ep = Episode(question=question, answers=golds, error=f"{type(exc).__name__}: {exc}")
                ep.scores = {m: 0.0 for m in METRICS}
                return ep
            finally:
                bar.update(1)

    results = []
    try:
        for name, rows in sets.items():
            episodes = await asyncio.gather(*(one(name, row) for row in rows))
            n = max(len(episodes), 1)
            results.append(SetResult(
                name=name, n=len(episodes),
                em=sum(e.scores["em"] for e in episodes) / n,
                cover_em=sum(e.scores["cover_em"] for e in episodes) / n,
                f1=sum(e.scores["f1"] for e in episodes) / n,
                searches_per_question=sum(e.searches for e in episodes) / n,
                failed_searches=sum(e.search_failures for e in episodes),
                errors=sum(e.error is not None for e in episodes),
            ))
            if predictions_dir is not None:
                await asyncio.to_thread(write_predictions, predictions_dir / f"predictions_{name}.jsonl", episodes)
    finally:
        bar.close()
    return results


def write_predictions(path: Path, episodes: Sequence[Episode]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for e in episodes:
            fh.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")


def summary(results: list[SetResult]) -> dict[str, Any]:
    """Per-set metrics and their plain average over sets (as the paper's Avg column)."""
    k = max(len(results), 1)
    average = {m: sum(getattr(r, m) for r in results) / k for m in ("em", "cover_em", "f1", "searches_per_question")}
    return {"sets": {r.name: asdict(r) for r in results}, "average": average}


def markdown_table(results: list[SetResult]) -> str:
    avg = summary(results)["average"]
    lines = ["| set | n | EM | cover-EM | F1 | searches/q | failed searches |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.n} | {100 * r.em:.2f} | {100 * r.cover_em:.2f} | {100 * r.f1:.2f} | "
                     f"{r.searches_per_question:.2f} | {r.failed_searches} |")
    lines.append(f"| **average** | {sum(r.n for r in results)} | {100 * avg['em']:.2f} | {100 * avg['cover_em']:.2f} | "
                 f"{100 * avg['f1']:.2f} | {avg['searches_per_question']:.2f} | "
                 f"{sum(r.failed_searches for r in results)} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, results: list[SetResult], meta: dict[str, Any]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps({**summary(results), "meta": meta}, indent=2) + "\n")
    md_path.write_text(markdown_table(results))
    return json_path, md_path
