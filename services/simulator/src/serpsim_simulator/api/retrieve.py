"""Search-R1's batch retrieval route."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from serpsim_protocol import RetrieveError, RetrieveRequest, RetrieveResponse

from .deps import RetrieveDep

router = APIRouter(tags=["retrieve"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": RetrieveError, "description": "Invalid request"},
    503: {"model": RetrieveError, "description": "The simulation engine is not ready or failed"},
}


@router.post("/retrieve", response_model=RetrieveResponse, responses=ERRORS, response_model_exclude_none=True)
async def retrieve(body: RetrieveRequest, service: RetrieveDep) -> RetrieveResponse:
    """Search-R1 `{"queries", "topk", "return_scores"}`; optional per-query `quality`, `question`, `answer`, `seed`."""
    return await service.retrieve(body)
