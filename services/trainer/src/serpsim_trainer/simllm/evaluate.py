"""`eval-sim`: how good is a simulator, before anyone trains against it.

Every held-out (question, answer, query) triple is searched on the simulator's `/search.json`
twice, `quality=useful` and `quality=noisy`, with the hints the trainer sends during training
(the question and the first gold answer), `num=5` and `no_cache=true` (a fresh generation, the
same seed for both qualities). Per quality: format validity (5 documents, as the simulator's
own parser counts them in `organic_results`), answer containment, document length, duplicate and
near-duplicate rates, distinct-1/2 and latency; and the controllability gap, useful containment
minus noisy containment. With a reference backend (any `search_tool.yaml`-style settings file),
the same queries go through the trainer's `Searcher` as evaluation does (no hints) for comparison.

It needs only the HTTP API, so it runs unchanged on ZeroSearch's released checkpoints served
by `serpsim-simulator`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from serpsim_protocol import Quality, SearchClient, SearchError
from serpsim_protocol.prompts import DOCS_PER_GENERATION

from ..search import SearchContext, Searcher, derive_seed, render_serpapi
from .records import read_jsonl
from .textstats import contains_answer, distinct_n, duplicate_counts, word_count

REFERENCE = "reference"


class Triple(BaseModel):
    """One `build-sft` triple: a question, its gold answers, and a sub-query the policy searched."""

    model_config = ConfigDict(extra="allow")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list)
    query: str = Field(min_length=1)

    @property
    def golds(self) -> list[str]:
        return self.answers or [self.answer]


def read_triples(path: Path) -> list[Triple]:
    triples = read_jsonl(path, Triple)
    if not triples:
        raise ValueError(f"{path}: no (question, answer, query) triples (build-sft writes triples_eval.jsonl)")
    return triples


@dataclass
class Sample:
    """One search of one triple in one mode (`useful`, `noisy` or `reference`)."""

    triple: int
    mode: str
    documents: list[str] = field(default_factory=list)
    results: int = 0
    contains: bool = False
    latency_s: float = 0.0
    error: str | None = None


async def simulate_one(client: SearchClient, index: int, triple: Triple, quality: Quality, seed: int) -> Sample:
    sample = Sample(triple=index, mode=quality)
    started = time.perf_counter()
    try:
        response = await client.search(triple.query, quality=quality, question=triple.question, answer=triple.answer,
                                       seed=seed, num=DOCS_PER_GENERATION, no_cache=True)
    except SearchError as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    else:
        sample.results = len(response.organic_results)
        sample.documents = render_serpapi(response, DOCS_PER_GENERATION)
        if response.error and not sample.results:
            sample.error = response.error
    sample.latency_s = time.perf_counter() - started
    sample.contains = contains_answer(sample.documents, triple.golds)
    return sample


async def reference_one(searcher: Searcher, index: int, triple: Triple) -> Sample:
    outcome = await searcher.search(triple.query, SearchContext(split="test", uid=f"eval-sim-{index}"))
    docs = list(outcome.documents) if outcome.ok else []
    return Sample(triple=index, mode=REFERENCE, documents=docs, results=outcome.n_docs,
                  contains=contains_answer(docs, triple.golds), latency_s=outcome.latency_s, error=outcome.error)


def mode_metrics(samples: Sequence[Sample]) -> dict[str, Any]:
    """The figures of one mode. Format validity counts failed requests as invalid; the text
    measures are over the requests that answered."""
    answered = [s for s in samples if s.error is None]
    docs = [d for s in answered for d in s.documents]
    exact = near = 0
    for s in answered:
        e, n = duplicate_counts(s.documents)
        exact, near = exact + e, near + n
    latencies = sorted(s.latency_s for s in answered)
    k = max(len(answered), 1)
    return {
        "requests": len(samples),
        "errors": len(samples) - len(answered),
        "five_documents": sum(s.results == DOCS_PER_GENERATION for s in answered) / max(len(samples), 1),
        "documents_per_result": sum(s.results for s in answered) / k,
        "containment": sum(s.contains for s in answered) / k,
        "words_per_document": sum(word_count(d) for d in docs) / max(len(docs), 1),
        "duplicate_rate": exact / max(len(docs), 1),
        "near_duplicate_rate": near / max(len(docs), 1),
        "distinct_1": distinct_n(docs, 1),
        "distinct_2": distinct_n(docs, 2),
        "latency_mean_s": statistics.fmean(latencies) if latencies else 0.0,
        "latency_p50_s": latencies[len(latencies) // 2] if latencies else 0.0,
        "latency_p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0.0,
    }


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    modes = [m for m in ("useful", "noisy", REFERENCE) if any(s.mode == m for s in samples)]
    metrics = {m: mode_metrics([s for s in samples if s.mode == m]) for m in modes}
    gap = metrics["useful"]["containment"] - metrics["noisy"]["containment"]
    return {"modes": metrics, "controllability_gap": gap}


async def evaluate_simulator(
    triples: Sequence[Triple],
    simulator_url: str,
    *,
    reference: Searcher | None = None,
    api_key: str | None = None,
    concurrency: int = 8,
    seed: int = 0,
    timeout_s: float = 120.0,
    progress: bool = True,
) -> list[Sample]:
    """Every triple in both qualities (and through the `reference` searcher, which this closes);
    samples in a stable order."""
    from tqdm.auto import tqdm

    if not triples:
        raise ValueError("no triples to evaluate")
    modes: list[str] = ["useful", "noisy"] + ([REFERENCE] if reference is not None else [])
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(triples) * len(modes), desc="eval-sim", unit="search", disable=not progress)
    client = SearchClient(simulator_url, api_key=api_key, timeout_s=timeout_s)
    searcher = reference

    async def one(index: int, triple: Triple, mode: str) -> Sample:
        async with gate:
            try:
                if mode == REFERENCE:
                    assert searcher is not None
                    return await reference_one(searcher, index, triple)
                quality: Quality = "useful" if mode == "useful" else "noisy"
                call_seed = derive_seed(seed, 0, f"{triple.question}|{triple.query}", 0, 0)
                return await simulate_one(client, index, triple, quality, call_seed)
            finally:
                bar.update(1)

    try:
        return list(await asyncio.gather(*(one(i, t, m) for i, t in enumerate(triples) for m in modes)))
    finally:
        bar.close()
        await client.aclose()
        if searcher is not None:
            await searcher.aclose()


def sample_rows(samples: Sequence[Sample], triples: Sequence[Triple]) -> list[dict[str, Any]]:
    return [{**asdict(s), "question": triples[s.triple].question, "answer": triples[s.triple].answer,
             "query": triples[s.triple].query} for s in samples]
