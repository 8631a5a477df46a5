"""Search-R1's batch retrieval route: a thin shape over the search service.

Each query of the batch becomes one `SearchQuery` (topk documents, the batch's backend and
noise, its own quality, question, answer and seed over the batch-wide ones); the whole batch is
one `SearchService.run`, so one engine batch for the simulation and one index call for a corpus.
Each hit renders as Search-R1's corpus row `{"id", "contents"}` (`contents` = `"Title"\\ntext`),
with a score when asked: the backend's own (BM25, cosine, fusion), or a descending rank score
where it has none (the simulation, Google).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from serpsim_protocol import RetrieveError, RetrieveRequest, RetrieveResponse

from ..search.query import SearchQuery
from ..search.result import SearchResult
from ..search.service import SearchService
from ._http import OrjsonResponse, parse_body, request_only
from .contract import RETRIEVE_PATH, Contract
from .deps import identify

router = APIRouter(tags=["retrieve"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": RetrieveError, "description": "Invalid request"},
    401: {"model": RetrieveError, "description": "Missing or invalid API key"},
    413: {"model": RetrieveError, "description": "Request body too large"},
    429: {"model": RetrieveError, "description": "Rate limit exceeded (see Retry-After)"},
    502: {"model": RetrieveError, "description": "The engine or the upstream returned unusable output"},
    503: {"model": RetrieveError, "description": "Backend not ready or failed, or at capacity (see Retry-After)"},
    504: {"model": RetrieveError, "description": "The request's deadline passed"},
}


def rank_score(rank: int) -> float:
    """A retriever-like descending score; Search-R1 clients only read the order."""
    return round(1.0 / (1.0 + 0.1 * rank), 4)


def search_queries(request: RetrieveRequest) -> list[SearchQuery]:
    """One query per entry of the batch, with the batch-wide values it does not set itself."""
    return [
        SearchQuery(
            query=q.query, num=request.k, backend=request.backend, quality=q.quality, noise_ratio=request.noise_ratio,
            noise_count=request.noise_count, question=q.question, answer=q.answer, seed=q.seed,
            no_cache=request.no_cache,
        )
        for q in request.resolved()
    ]


def retrieve_response(results: list[SearchResult], scores: bool) -> dict[str, Any]:
    """`{"result": [[row or {"document": row, "score": s}, ...], ...]}`, as the plain dict it serialises to."""
    batches = []
    for result in results:
        items: list[dict[str, Any]] = []
        for rank, hit in enumerate(result.hits):
            row = {"id": hit.id, "contents": hit.contents}
            if scores:
                items.append({"document": row, "score": hit.score if hit.score is not None else rank_score(rank)})
            else:
                items.append(row)
        batches.append(items)
    return {"result": batches}


# The body is validated against this app's own model (api/contract.py), which the OpenAPI
# document publishes as the request body.
@request_only(router, "POST", RETRIEVE_PATH, response_model=RetrieveResponse, responses=ERRORS)
async def retrieve(request: Request) -> Response:
    """Search-R1 `{"queries", "topk", "return_scores"}`; ours: `backend`, `noise_ratio`,
    `noise_count` for the batch, and per query, optionally, an object `{"query", "quality",
    "question", "answer", "seed"}` in place of the string."""
    identity = identify(request)
    state = request.state
    contract: Contract = state.contract
    body = parse_body(contract.retrieve, await request.body())
    service: SearchService = state.search
    results = await service.run(search_queries(body), identity)
    return OrjsonResponse(retrieve_response(results, body.return_scores))
