"""Running a policy outside verl through the same turn protocol: `serpsim-train eval` and `ask`.

`run_episode` is the one episode function: the prompt is rendered as in training (the data row's
messages through the tokenizer's own chat template, `turns.render_prompt`), the turns follow
`turns.TurnProtocol` (stop strings, invalid action, observation cap in tokens, trajectory budget,
final answer-only turn), a search goes through the same `Searcher` the trainer uses, as the
evaluation split (no gold answer, no injected noise), and the policy's own text is scored by the
reward function verl calls. A policy is any OpenAI-compatible completions server (it receives
the context as token ids) or a local Hugging Face model.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from .reward import METRICS, POLICY_TEXT_KEY, compute_score, gold_answers
from .search import AgentSettings, SearchContext, Searcher, SearchOutcome
from .tags import STOP_STRINGS, cut_at_stop, instruction_for
from .turns import Generation, OnTurn, Turn, TurnProtocol, render_prompt

logger = logging.getLogger(__name__)

EVAL_SPLIT = "test"
DEFAULT_RESPONSE_LENGTH = 4096
"""The trajectory's token budget: the packaged run configs' `data.max_response_length`."""


class Policy(Protocol):
    tokenizer: Any

    async def generate(self, context_ids: list[int], max_tokens: int) -> Generation:
        """Continue `context_ids` (prompt + trajectory so far) by at most `max_tokens` tokens,
        stopping after a closing tag."""
        ...


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def close_open_tag(text: str) -> str:
    """Servers drop the stop string from the text by default: put the closing tag back."""
    for tag in ("search", "answer"):
        opened, closed = text.rfind(f"<{tag}>"), text.rfind(f"</{tag}>")
        if opened > closed:
            return text + f"</{tag}>"
    return text


class OpenAIPolicy:
    """A policy behind an OpenAI-compatible completions endpoint (vLLM, SGLang...). The context goes
    as token ids (the OpenAI API's array-of-tokens prompt), so the server continues exactly the
    sequence the trainer would have built; the text that comes back is tokenized here."""

    def __init__(
        self,
        url: str,
        model: str,
        tokenizer: Any,
        *,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model, self.tokenizer, self.temperature = model, tokenizer, temperature
        base = url.rstrip("/")
        self._base = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport, headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def generate(self, context_ids: list[int], max_tokens: int) -> Generation:
        body = {"model": self.model, "prompt": context_ids, "max_tokens": max_tokens,
                "temperature": self.temperature, "stop": list(STOP_STRINGS), "include_stop_str_in_output": True}
        response = await self._http.post(self._base + "/completions", json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"policy server /completions: HTTP {response.status_code}: {response.text[:300]}")
        text = response.json()["choices"][0].get("text") or ""
        return Generation(list(self.tokenizer.encode(close_open_tag(cut_at_stop(text)), add_special_tokens=False)))


class LocalPolicy:
    """A Hugging Face model directory run in-process (CPU or GPU), greedy; for `ask`."""

    def __init__(self, model_path: str, *, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.tokenizer = load_tokenizer(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()

    def _generate(self, context_ids: list[int], max_tokens: int) -> list[int]:
        import torch

        ids = torch.tensor([context_ids], device=self.device)
        with torch.no_grad():
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=False,
                stop_strings=list(STOP_STRINGS), tokenizer=self.tokenizer,
            )
        return [int(t) for t in out[0, len(context_ids):]]

    async def generate(self, context_ids: list[int], max_tokens: int) -> Generation:
        return Generation(await asyncio.to_thread(self._generate, context_ids, max_tokens))


@dataclass
class Episode:
    question: str
    answers: list[str]
    trajectory: str = ""
    """The whole response as verl decodes it (documents and messages included)."""
    policy_text: str = ""
    """What the policy wrote: what is scored."""
    turns: list[dict[str, Any]] = field(default_factory=list)
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
    messages: Sequence[dict[str, Any]] | None = None,
    answers: Sequence[str] = (),
    uid: str = "",
    agent: AgentSettings | None = None,
    response_length: int = DEFAULT_RESPONSE_LENGTH,
    on_turn: OnTurn | None = None,
) -> Episode:
    """One question through the turn protocol, scored when gold `answers` are given. `messages` is
    the data row's prompt (default: the Search-R1 instruction for `question`, as prepare-data writes)."""
    agent = agent or AgentSettings()
    protocol = TurnProtocol(policy.tokenizer, agent, response_length)
    prompt = list(messages) if messages is not None else [{"role": "user", "content": instruction_for(question)}]
    prompt_ids = render_prompt(policy.tokenizer, prompt, agent.prompt_format)

    async def search(query: str, turn: int) -> SearchOutcome:
        return await searcher.search(query, SearchContext(step=0, split=EVAL_SPLIT, uid=uid, turn=turn))

    traj = await protocol.run(prompt_ids, policy.generate, search, on_turn=on_turn)
    episode = Episode(question=question, answers=list(answers), trajectory=protocol.decode(traj.response_ids),
                      policy_text=traj.policy_text, turns=[_turn_record(t) for t in traj.turns],
                      searches=len(traj.searches), search_failures=sum(not s.ok for s in traj.searches))
    result = compute_score(None, episode.trajectory, list(answers), extra_info={POLICY_TEXT_KEY: traj.policy_text})
    episode.prediction = next((t.content for t in reversed(traj.turns) if t.action == "answer"), None)
    episode.scores = {m: float(result[m]) for m in METRICS}
    return episode


def _turn_record(turn: Turn) -> dict[str, Any]:
    record: dict[str, Any] = {"text": turn.text, "action": turn.action, "content": turn.content}
    if turn.search is not None:
        record.update(search_ok=turn.search.ok, documents=turn.search.documents, error=turn.search.error)
    return record


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


async def evaluate_sets(
    policy: Policy,
    searcher: Searcher,
    sets: dict[str, list[dict[str, Any]]],
    *,
    agent: AgentSettings | None = None,
    response_length: int = DEFAULT_RESPONSE_LENGTH,
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
        messages = [dict(m) for m in row["prompt"]] if row.get("prompt") is not None else None
        async with gate:
            try:
                return await run_episode(policy, searcher, question, messages=messages, answers=golds,
                                         uid=str(extra.get("uid", "")), agent=agent, response_length=response_length)
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


METRIC_NOTE = (
    "EM (strict): the normalised prediction equals a gold answer. cover-EM: a normalised gold answer is "
    "contained in the prediction; this is what ZeroSearch's and Search-R1's tables call EM. F1: token F1 "
    "(ZeroSearch's reward). Normalisation: SQuAD's (lower case, no punctuation or articles)."
)


def markdown_table(results: list[SetResult]) -> str:
    avg = summary(results)["average"]
    lines = ["| set | n | EM (strict) | cover-EM (paper's EM) | F1 | searches/q | failed searches |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.n} | {100 * r.em:.2f} | {100 * r.cover_em:.2f} | {100 * r.f1:.2f} | "
                     f"{r.searches_per_question:.2f} | {r.failed_searches} |")
    lines.append(f"| **average** | {sum(r.n for r in results)} | {100 * avg['em']:.2f} | {100 * avg['cover_em']:.2f} | "
                 f"{100 * avg['f1']:.2f} | {avg['searches_per_question']:.2f} | "
                 f"{sum(r.failed_searches for r in results)} |")
    return "\n".join(lines) + f"\n\n{METRIC_NOTE}\n"


def write_report(out: Path, results: list[SetResult], meta: dict[str, Any]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps({**summary(results), "metrics": METRIC_NOTE, "meta": meta}, indent=2) + "\n")
    md_path.write_text(markdown_table(results))
    return json_path, md_path
