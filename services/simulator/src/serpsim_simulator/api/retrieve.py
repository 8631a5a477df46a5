"""Search-R1's batch retrieval route."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from serpsim_protocol import RetrieveError, RetrieveRequest, RetrieveResponse

from ..errors import InvalidParameter
from .deps import MeteredKeyDep, RetrieveDep, SettingsDep, check_text_length

router = APIRouter(tags=["retrieve"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": RetrieveError, "description": "Invalid request"},
    401: {"model": RetrieveError, "description": "Missing or invalid API key"},
    413: {"model": RetrieveError, "description": "Request body too large"},
    429: {"model": RetrieveError, "description": "Rate limit exceeded (see Retry-After)"},
    502: {"model": RetrieveError, "description": "The simulation engine returned unusable output"},
    503: {"model": RetrieveError, "description": "Engine not ready or failed, or at capacity (see Retry-After)"},
    504: {"model": RetrieveError, "description": "The request's deadline passed"},
}


@router.post("/retrieve", response_model=RetrieveResponse, responses=ERRORS, response_model_exclude_none=True)
async def retrieve(body: RetrieveRequest, service: RetrieveDep, settings: SettingsDep, _: MeteredKeyDep) -> RetrieveResponse:
    """Search-R1 `{"queries", "topk", "return_scores"}`; optional per-query `quality`, `question`, `answer`, `seed`."""
    if len(body.queries) > settings.limits.max_batch:
        raise InvalidParameter(f"queries: at most {settings.limits.max_batch} per request")
    for query in body.queries:
        check_text_length(settings, queries=query)
    return await service.retrieve(body)
