"""SerpApi routes: Google Search, the Search Archive and the Account API."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from serpsim_protocol import AccountResponse, ErrorResponse, SearchResponse

from ..serving_search import SearchService
from ._http import OrjsonResponse, parse_query, request_only
from .contract import Contract
from .deps import KeyDep, SearchDep, SettingsDep, UsageDep, base_url_of, identify_metered

router = APIRouter(tags=["serpapi"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Missing or invalid parameter"},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "Unknown search id"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    429: {"model": ErrorResponse, "description": "Rate limit exceeded (see Retry-After)"},
    502: {"model": ErrorResponse, "description": "The simulation engine returned unusable output"},
    503: {"model": ErrorResponse, "description": "Engine not ready or failed, or at capacity (see Retry-After)"},
    504: {"model": ErrorResponse, "description": "The request's deadline passed"},
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: ERRORS[400],
    401: ERRORS[401],
    413: ERRORS[413],
    504: ERRORS[504],
}

SEARCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    # `output=html` returns a results page instead of JSON, as SerpApi does
    200: {"content": {"text/html": {"schema": {"type": "string"}}}},
}


def render_html(response: dict[str, Any]) -> str:
    items = "".join(
        f'<li><a href="{escape(r["link"])}">{escape(r["title"])}</a><p>{escape(r.get("snippet", ""))}</p></li>'
        for r in response.get("organic_results", [])
    )
    query = escape(str(response.get("search_parameters", {}).get("q", "")))
    return f"<!doctype html><html><head><title>{query} - serpsim</title></head><body><ol>{items}</ol></body></html>"


SEARCH_ROUTE: dict[str, Any] = {
    "response_model": SearchResponse,
    "responses": SEARCH_RESPONSES,
    "response_model_exclude_none": True,
}


# The hot route takes only the Request (api/_http.py says why) and reads key, rate limit,
# parameters and state itself, in the order dependencies ran them: 401 before a bad parameter's 400.
# Parameters are validated against this app's own model (api/contract.py), which the OpenAPI
# document publishes as the route's parameters.
@request_only(router, "GET", "/search", **SEARCH_ROUTE)
@request_only(router, "GET", "/search.json", **SEARCH_ROUTE)
async def search(request: Request) -> Response:
    """Google Search results written by the simulation LLM, in SerpApi's format."""
    identify_metered(request)
    # The echo keeps every parameter the client sent (SerpApi echoes unknown ones too).
    query = dict(request.query_params)
    state = request.state
    contract: Contract = state.contract
    params = parse_query(contract.search, query)
    service: SearchService = state.search
    response = await service.search(params, query, base_url_of(request))
    if params.output == "html":
        return HTMLResponse(render_html(response))
    return OrjsonResponse(response)


@router.get("/searches/{search_id}", response_model=SearchResponse, responses=SEARCH_RESPONSES, response_model_exclude_none=True)
async def archived_search(search_id: str, service: SearchDep, _: KeyDep) -> Any:
    """A recent search again, by `search_metadata.id`: `.json` (or no suffix) as JSON, `.html` as a page."""
    response = service.archived(search_id)
    if search_id.endswith(".html"):
        return HTMLResponse(render_html(response))
    return JSONResponse(response)


@router.get("/locations.json", response_model=list[dict[str, Any]], responses=AUTH_ERRORS)
async def locations(q: Annotated[str, Query(max_length=256)] = "", limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Any:
    """SerpApi's Locations API, simulated: the requested place echoed as one location.

    Clients call it to pick a `location` value; any string works as a simulated location.
    """
    name = " ".join(q.split())
    if not name:
        return []
    return [
        {
            "id": name.lower().replace(" ", "-"),
            "name": name,
            "canonical_name": name,
            "country_code": "US",
            "target_type": "City",
            "reach": 0,
        }
    ][:limit]


@router.get("/account", response_model=AccountResponse, responses=AUTH_ERRORS)
@router.get("/account.json", response_model=AccountResponse, responses=AUTH_ERRORS)
async def account(usage: UsageDep, settings: SettingsDep, _: KeyDep, api_key: str | None = None) -> AccountResponse:
    """Usage of this simulator, with SerpApi's Account API field names where they exist."""
    counters = usage.for_key(api_key)
    return AccountResponse(
        account_id="serpsim",
        api_key=api_key,
        plan_id="simulated",
        plan_name="serpsim (self-hosted)",
        this_month_usage=counters.searches,
        total_searches=counters.searches,
        cache_hits=counters.cache_hits,
        prompt_tokens=counters.prompt_tokens,
        completion_tokens=counters.completion_tokens,
        engine_seconds=round(counters.engine_seconds, 3),
        # Engine time at the configured GPU price. Each engine call's time is split among its
        # prompts; calls the engine batched together overlap, so under load this is an upper bound.
        estimated_cost_usd=round(counters.engine_seconds / 3600 * settings.cost.gpu_hourly_usd * settings.cost.gpu_count, 6),
    )
