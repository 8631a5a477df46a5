"""Search-R1's `POST /retrieve`, served by the simulator: a whole batch is one engine batch."""

from __future__ import annotations

from serpsim_protocol import RetrievedDocument, RetrieveHit, RetrieveRequest, RetrieveResponse, per_query

from .cache import CachedSimulator, NullCache, ResultCache
from .errors import InvalidParameter
from .settings import Settings
from .simulate import SimRequest, Simulator
from .usage import Usage


def rank_score(rank: int) -> float:
    """A retriever-like descending score; Search-R1 clients only read the order."""
    return round(1.0 / (1.0 + 0.1 * rank), 4)


class RetrieveService:
    def __init__(self, simulator: Simulator, usage: Usage, settings: Settings, cache: ResultCache | None = None) -> None:
        self.simulator = simulator
        self.cached = CachedSimulator(simulator, cache if cache is not None else NullCache())
        self.usage = usage
        self.settings = settings

    async def retrieve(self, request: RetrieveRequest, api_key: str | None = None) -> RetrieveResponse:
        n = len(request.queries)
        if request.topk > self.settings.simulation.max_num:
            raise InvalidParameter(f"topk must be at most {self.settings.simulation.max_num}")
        if any(not q.strip() for q in request.queries):
            raise InvalidParameter("queries must not be empty strings")
        qualities = per_query(request.quality, n, "quality")
        questions = per_query(request.question, n, "question")
        answers = per_query(request.answer, n, "answer")
        seeds = per_query(request.seed, n, "seed")
        sim_requests = [
            SimRequest(query=q, quality=quality or "useful", question=question, answer=answer, num=request.topk, seed=seed)
            for q, quality, question, answer, seed in zip(request.queries, qualities, questions, answers, seeds)
        ]
        # Per query: hits are served from the cache, the misses still go to the engine as one batch.
        results = await self.cached.simulate(sim_requests)
        batches: list[list[RetrieveHit]] = []
        for result, cached in results:
            self.usage.record(api_key, result, cached)
            batches.append(
                [
                    RetrieveHit(
                        document=RetrievedDocument(id=doc.key, contents=f"{doc.title}\n{doc.snippet}"),
                        score=rank_score(rank) if request.return_scores else None,
                    )
                    for rank, doc in enumerate(result.documents)
                ]
            )
        return RetrieveResponse(result=batches)
