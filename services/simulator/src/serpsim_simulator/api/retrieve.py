"""Search-R1's batch retrieval route."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from serpsim_protocol import RetrieveError, RetrieveResponse

from ..serving_retrieve import RetrieveService
from ._http import OrjsonResponse, parse_body, request_only
from .contract import RETRIEVE_PATH, Contract
from .deps import identify

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


# The body is validated against this app's own model (api/contract.py), which the OpenAPI
# document publishes as the request body.
@request_only(router, "POST", RETRIEVE_PATH, response_model=RetrieveResponse, responses=ERRORS)
async def retrieve(request: Request) -> Response:
    """Search-R1 `{"queries", "topk", "return_scores"}`; per query, optionally, an object
    `{"query", "quality", "question", "answer", "seed"}` in place of the string."""
    identity = identify(request)
    state = request.state
    contract: Contract = state.contract
    body = parse_body(contract.retrieve, await request.body())
    service: RetrieveService = state.retrieve
    response = await service.retrieve(body, identity)
    return OrjsonResponse(response.model_dump(mode="json"))
