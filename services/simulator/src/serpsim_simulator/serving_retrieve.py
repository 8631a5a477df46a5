"""Search-R1's `POST /retrieve`, served by the simulator: a whole batch is one engine batch."""

from __future__ import annotations

from serpsim_protocol import RetrievedDocument, RetrieveHit, RetrieveRequest, RetrieveResponse

from .accounts import Accounts
from .cache import CachedSimulator, NullCache, ResultCache
from .simulate import SimRequest, Simulator


def rank_score(rank: int) -> float:
    """A retriever-like descending score; Search-R1 clients only read the order."""
    return round(1.0 / (1.0 + 0.1 * rank), 4)


class RetrieveService:
    def __init__(self, simulator: Simulator, accounts: Accounts, cache: ResultCache | None = None) -> None:
        self.simulator = simulator
        self.cached = CachedSimulator(simulator, cache if cache is not None else NullCache())
        self.accounts = accounts

    async def retrieve(self, request: RetrieveRequest, identity: str) -> RetrieveResponse:
        """A batch for `identity` (api/deps.identify): each query a search, all admitted together."""
        sim_requests = [
            SimRequest(
                query=q.query, quality=q.quality or "useful", question=q.question, answer=q.answer, num=request.k, seed=q.seed
            )
            for q in request.resolved()
        ]
        self.accounts.admit(identity, sim_requests)
        # Per query: hits are served from the cache, the misses still go to the engine as one batch.
        results = await self.cached.simulate(sim_requests, no_cache=request.no_cache)
        batches: list[list[RetrieveHit]] = []
        for result, cached in results:
            self.accounts.record(identity, result, cached)
            batches.append(
                [
                    RetrieveHit(
                        document=RetrievedDocument(id=doc.key, contents=f'"{doc.title}"\n{doc.snippet}'),
                        score=rank_score(rank) if request.return_scores else None,
                    )
                    for rank, doc in enumerate(result.documents)
                ]
            )
        return RetrieveResponse(result=batches)
