"""SearXNG's search API (`/search?format=json`), as LangChain's `SearxSearchWrapper` and other
SearXNG clients call it.

`SearxSearchWrapper` requests its `searx_host` verbatim (`GET /searxng?q=...&format=json`), the
instance's root; SearXNG answers a root request carrying `q` with a 308 to `/search?<the same
query>`, and so does this shape (the redirect built from the forwarded host and prefix), so the
client follows it to `/searxng/search`. Parameters come from the query string or a form body:
`q`, `format` (only `json` is served: any other is SearXNG's 403 for a format not enabled),
`pageno` (1-based, ten results a page), `language`, `categories`, `engines`, `time_range`,
`safesearch` (accepted, not applied), and serpsim's extras. No keys in SearXNG itself: on a
server that has keys, send one as `X-API-Key` (LibreChat's header), Bearer or `api_key`.
Response: `{query, number_of_results, results[{url, title, content, engine, engines, positions,
score, category, parsed_url, template, publishedDate, ...}], answers, corrections, infoboxes,
suggestions, unresponsive_engines}`. Errors: SearXNG's `{"error": message}`; no query is 400
`{"error": "No query"}`.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from ...errors import InvalidParameter, SimulatorError
from .._http import OrjsonResponse
from ..security import presented_key
from .mapping import (
    Failure,
    Rendered,
    Shape,
    caller,
    extras,
    run_search,
    self_base,
    serpsim_block,
)

router = APIRouter(tags=["searxng"])
PREFIX = "/searxng"
PAGE_SIZE = 10
ENGINE = "serpsim"


class FormatNotEnabled(SimulatorError):
    status = 403


async def _params(request: Request) -> dict[str, str]:
    """Query string, then a form body over it (SearXNG reads both)."""
    params = dict(request.query_params)
    if request.method == "POST" and "form" in request.headers.get("content-type", ""):
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _pageno(raw: str | None) -> int:
    try:
        page = int(raw or 1)
    except ValueError:
        page = 0
    if page < 1:
        raise InvalidParameter("Invalid pageno parameter: a positive integer.")
    return page


def _result(rank: int, hit: Any) -> dict[str, Any]:
    parts = urlsplit(hit.link)
    return {
        "url": hit.link, "title": hit.title, "content": hit.text, "engine": ENGINE, "engines": [ENGINE],
        "positions": [rank + 1], "score": hit.score if hit.score is not None else 1.0 / (rank + 1),
        "category": "general", "parsed_url": [parts.scheme, parts.netloc, parts.path, "", parts.query, parts.fragment],
        "template": "default.html", "publishedDate": None, "thumbnail": "", "img_src": "", "priority": "",
    }


async def _search(request: Request) -> Response:
    params = await _params(request)
    identity = caller(request, presented_key(request))
    if params.get("format", "html") != "json":
        raise FormatNotEnabled("Only format=json is enabled on this instance.")
    page = _pageno(params.get("pageno"))
    fields = {"q": params.get("q"), "num": PAGE_SIZE, "start": (page - 1) * PAGE_SIZE, **extras(params)}
    query, result = await run_search(request, identity, fields, {"start": "pageno"})
    results = [_result(rank, hit) for rank, hit in enumerate(result.hits)]
    total = result.total_results if result.total_results is not None else len(results)
    return OrjsonResponse({
        "query": query.q, "number_of_results": total, "results": results, "answers": [], "corrections": [],
        "infoboxes": [], "suggestions": [], "unresponsive_engines": [], "serpsim": serpsim_block(result),
    })


async def _index(request: Request) -> Response:
    """The root: with a query, SearXNG's 308 to `/search` with the same query; without, a page."""
    params = await _params(request)
    if params.get("q"):
        target = f"{self_base(request, PREFIX)}/search"
        query = request.url.query
        return RedirectResponse(f"{target}?{query}" if query else target, status_code=308)
    return HTMLResponse(
        f'<!doctype html><html><head><title>serpsim (SearXNG API)</title></head><body><form action="'
        f'{escape(self_base(request, PREFIX))}/search"><input name="q"><input type="hidden" name="format" '
        'value="json"><button>Search</button></form></body></html>'
    )


router.add_api_route(f"{PREFIX}/search", _search, methods=["GET", "POST"], include_in_schema=False)
router.add_api_route(PREFIX, _index, methods=["GET", "POST"], include_in_schema=False)
router.add_api_route(f"{PREFIX}/", _index, methods=["GET", "POST"], include_in_schema=False)


def render_error(failure: Failure) -> Rendered:
    message = "No query" if failure.missing_query else failure.message
    return failure.status, {"error": message}, dict(failure.headers or {})


SHAPE = Shape("searxng", PREFIX, (), router, render_error)
