"""SerpApi routes: Google Search, the Search Archive and the Account API.

A thin shape over the search service: `/search` maps its parameters to one `SearchQuery`, hands
it to `SearchService.run`, and renders the `SearchResult` as SerpApi's response, whichever
backend answered (the simulation, a corpus, SerpApi itself). serpsim's own block says which:
`simulation` (model, prompt mode, tokens, each document's label) for the simulation, `backend`
(name, kind, mode...) for real search; SerpApi clients ignore both.
"""

from __future__ import annotations

import secrets
import time
from html import escape
from typing import Annotated, Any
from urllib.parse import quote_plus, urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from serpsim_protocol import AccountResponse, ErrorResponse, SearchRequest, SearchResponse

from ..backends.base import Hit
from ..search.query import SearchQuery
from ..search.result import SearchResult
from ..search.service import SearchService
from ._http import OrjsonResponse, parse_query, request_only
from .contract import SEARCH_PATHS, Contract
from .deps import AccountsDep, KeyDep, SearchDep, SettingsDep, base_url_of, identify
from .security import presented_key

router = APIRouter(tags=["serpapi"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Missing or invalid parameter"},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "Unknown search id"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    429: {"model": ErrorResponse, "description": "Rate limit exceeded (see Retry-After)"},
    502: {"model": ErrorResponse, "description": "The engine or the upstream returned unusable output"},
    503: {"model": ErrorResponse, "description": "Backend not ready or failed, or at capacity (see Retry-After)"},
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


EMPTY_RESULTS = "Google hasn't returned any results for this query."
_HIDDEN_PARAMS = frozenset({"api_key", "serp_api_key"})


def search_query(params: SearchRequest) -> SearchQuery:
    """The SerpApi request as the search path's query (`start` is the offset)."""
    return SearchQuery(
        query=params.q, num=params.num, offset=params.start, backend=params.backend, quality=params.quality,
        noise_ratio=params.noise_ratio, noise_count=params.noise_count, question=params.question,
        answer=params.answer, seed=params.seed, no_cache=params.no_cache,
    )


def displayed_link(link: str) -> str:
    """Google's breadcrumb form of a link: `https://host › path › parts`."""
    parts = urlsplit(link)
    crumbs = [p for p in parts.path.split("/") if p]
    return " › ".join([f"{parts.scheme}://{parts.netloc}", *crumbs])


def organic_result(position: int, hit: Hit, source: str) -> dict[str, Any]:
    """One `OrganicResult` as the plain dict it serialises to (the hot path skips pydantic).
    Fields a real upstream sent beyond these (SerpApi's `date`, `favicon`...) pass through."""
    extra = hit.extra
    item: dict[str, Any] = {
        "position": position,
        "title": hit.title,
        "link": hit.link,
        "displayed_link": extra.get("displayed_link") or displayed_link(hit.link),
        "snippet": hit.text,
        "source": extra.get("source") or source,
    }
    for key, value in extra.items():
        if key not in item:
            item[key] = value
    return item


def _timestamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def serpapi_response(
    params: SearchRequest, echo: dict[str, str], base_url: str, result: SearchResult, started: float, max_pages: int
) -> dict[str, Any]:
    """The `SearchResponse` as the dict `model_dump(mode="json", exclude_none=True)` would give.

    Built directly: validating a model and dumping it again cost more than the rest of the
    request (bench/overhead.py); tests validate the shape against `SearchResponse`.
    """
    search_id = secrets.token_hex(12)
    finished = time.time()
    organic = [organic_result(params.start + i + 1, hit, result.backend) for i, hit in enumerate(result.hits)]
    shown = {k: v for k, v in echo.items() if k not in _HIDDEN_PARAMS}
    shown.setdefault("engine", "google")
    shown["q"] = params.q
    metadata: dict[str, Any] = {
        "id": search_id,
        "status": "Success",
        "json_endpoint": f"{base_url}/searches/{search_id}.json",
        "raw_html_file": f"{base_url}/searches/{search_id}.html",
        "created_at": _timestamp(started),
        "processed_at": _timestamp(finished),
        "google_url": f"https://www.google.com/search?q={quote_plus(params.q)}",
        "total_time_taken": round(finished - started, 3),
    }
    if result.cached:
        metadata["cached"] = True
    total = result.total_results if result.total_results is not None else len(organic) * max_pages
    response: dict[str, Any] = {
        "search_metadata": metadata,
        "search_parameters": shown,
        "search_information": {
            "query_displayed": params.q,
            "total_results": total if organic else 0,
            "time_taken_displayed": round(finished - started, 2),
            "organic_results_state": "Results for exact spelling" if organic else "Fully empty",
        },
    }
    if organic:
        response["organic_results"] = organic
        response["serpapi_pagination"] = _pagination(params, shown, base_url, max_pages)
    else:  # as SerpApi: no `organic_results` key at all, and an `error` with a 200
        response["error"] = EMPTY_RESULTS
    if result.kind == "simulated":
        response["simulation"] = simulation_block(result)
    else:
        response["backend"] = {"name": result.backend, "kind": result.kind, **result.info, "cached": result.cached}
    return response


def simulation_block(result: SearchResult) -> dict[str, Any]:
    """How the documents were written: the quality asked (absent when noise was mixed per
    document), each document's label in order, model, engine, prompt mode and token counts."""
    query, usage = result.query, result.usage
    block: dict[str, Any] = {"backend": result.backend}
    if not query.mixes_noise:
        block["quality"] = query.quality or "useful"
    block["labels"] = result.labels
    block.update(result.info)
    block.update(
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        generations=usage.generations, cached=result.cached,
    )
    return block


def _pagination(params: SearchRequest, shown: dict[str, str], base_url: str, max_pages: int) -> dict[str, Any]:
    """Links back to this server (never serpapi.com), ending after `max_pages` pages.

    Each link is `urlencode({**shown, "start": ...})`; only `start` differs between pages, so
    the other parameters are encoded once, on either side of where `start` goes.
    """
    num = params.num
    current = params.start // num + 1
    before: list[tuple[str, str]] = []
    after: list[tuple[str, str]] = []
    side = before
    for key, value in shown.items():
        if key == "start":
            side = after  # an echoed `start` keeps its place; otherwise it goes last
        else:
            side.append((key, value))
    head = f"{base_url}/search.json?{urlencode(before)}{'&' if before else ''}start="
    tail = f"&{urlencode(after)}" if after else ""

    def page_url(page: int) -> str:
        return f"{head}{(page - 1) * num}{tail}"

    pagination: dict[str, Any] = {"current": current}
    if current < max_pages:
        pagination["next"] = pagination["next_link"] = page_url(current + 1)
    pagination["other_pages"] = {str(p): page_url(p) for p in range(1, max_pages + 1) if p != current}
    return pagination


SEARCH_ROUTE: dict[str, Any] = {
    "response_model": SearchResponse,
    "responses": SEARCH_RESPONSES,
    "response_model_exclude_none": True,
}


# The hot route takes only the Request (api/_http.py says why) and reads key, rate limit,
# parameters and state itself, in the order dependencies ran them: 401 before a bad parameter's 400.
# Parameters are validated against this app's own model (api/contract.py), which the OpenAPI
# document publishes as the route's parameters.
@request_only(router, "GET", SEARCH_PATHS[0], **SEARCH_ROUTE)
@request_only(router, "GET", SEARCH_PATHS[1], **SEARCH_ROUTE)
async def search(request: Request) -> Response:
    """Google Search results in SerpApi's format, from the backend the request names (`backend`)
    or the first configured: written by the simulation LLM, or found in a corpus or on Google."""
    identity = identify(request)
    # The echo keeps every parameter the client sent (SerpApi echoes unknown ones too).
    query = dict(request.query_params)
    state = request.state
    contract: Contract = state.contract
    params = parse_query(contract.search, query)
    service: SearchService = state.search
    started = time.time()
    (result,) = await service.run([search_query(params)], identity)
    response = serpapi_response(params, query, base_url_of(request), result, started, state.settings.simulation.max_pages)
    service.keep(response["search_metadata"]["id"], response)
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
