"""SerpApi routes: Google Search, the Search Archive and the Account API."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from serpsim_protocol import AccountResponse, ErrorResponse, SearchResponse

from ..security import presented_key
from ..serving_search import SearchService
from ._http import OrjsonResponse, parse_query, request_only
from .contract import Contract
from .deps import AccountsDep, KeyDep, SearchDep, SettingsDep, base_url_of, identify

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
    identity = identify(request)
    # The echo keeps every parameter the client sent (SerpApi echoes unknown ones too).
    query = dict(request.query_params)
    state = request.state
    contract: Contract = state.contract
    params = parse_query(contract.search, query)
    service: SearchService = state.search
    response = await service.search(params, query, base_url_of(request), identity)
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
async def account(
    request: Request,
    accounts: AccountsDep,
    settings: SettingsDep,
    identity: KeyDep,
    api_key: Annotated[str | None, Query(description="Your API key (or send it as Bearer or X-API-KEY).")] = None,
) -> AccountResponse:
    """The caller's own usage (by its key however presented, or its address on an open server),
    with SerpApi's Account API field names where they exist. Searches left count down the
    hourly quota when one is configured; there is no monthly plan."""
    counters = accounts.usage(identity)
    last_hour = accounts.last_hour(identity)
    per_hour = settings.limits.rate_per_hour or None
    left = max(0, per_hour - last_hour) if per_hour is not None else None
    return AccountResponse(
        account_id=identity,
        api_key=presented_key(request),
        plan_id="simulated",
        plan_name="serpsim (self-hosted)",
        plan_searches_left=left,
        total_searches_left=left,
        this_month_usage=counters.searches,
        this_hour_searches=last_hour,
        last_hour_searches=last_hour,
        account_rate_limit_per_hour=per_hour,
        total_searches=counters.searches,
        cache_hits=counters.cache_hits,
        generations=counters.generations,
        prompt_tokens=counters.prompt_tokens,
        completion_tokens=counters.completion_tokens,
        engine_seconds=round(counters.engine_seconds, 3),
        # Engine time at the configured GPU price. Each engine call's time is split among its
        # prompts; calls the engine batched together overlap, so under load this is an upper bound.
        estimated_cost_usd=round(counters.engine_seconds / 3600 * settings.cost.gpu_hourly_usd * settings.cost.gpu_count, 6),
    )
