"""Brave's Web Search API (`/res/v1/web/search`), as `brave-api-client` calls it.

Request: `GET` with query parameters (or `POST` with the same fields as JSON, as Brave
documents): `q`, `count` (1-20, default 20), `offset` (a page index, 0-9: the first result is
`offset * count`), `country`, `search_lang`, `safesearch`, `freshness`... (accepted, not
applied); the key in `X-Subscription-Token`. `brave-api-client` drops fields its model does not
declare, so serpsim's extras reach this shape as query parameters only from raw HTTP or a
subclass of its query model (the README says how), or take the server's defaults.
Response: `{type: "search", query{original, more_results_available}, mixed, web{type,
family_friendly, results[{type: "search_result", title, url, description, language,
family_friendly, profile, meta_url}]}}`: the fields the client's models require are all there.
Errors: Brave's `{"type": "ErrorResponse", "error": {id, status, code, detail, meta}, "time"}`. Brave
answers a wrong key, a missing key and a missing `q` with 422 (codes
`SUBSCRIPTION_TOKEN_INVALID`, `VALIDATION`), so does this shape; a rate limit is 429
`RATE_LIMITED` with `X-RateLimit-Reset` (the client sleeps by it before its retries).
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from ...errors import InvalidParameter
from .._http import OrjsonResponse
from ..serpapi import displayed_link
from .mapping import (
    Failure,
    Rendered,
    Shape,
    caller,
    extras,
    json_body,
    more_results,
    run_search,
    serpsim_block,
)

router = APIRouter(tags=["brave"])
PREFIX = "/brave"
MAX_OFFSET = 9
CODES = {404: "RESOURCE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE", 429: "RATE_LIMITED"}
UNABLE = "Unable to validate request parameter(s)"


def _result(hit: Any) -> dict[str, Any]:
    parts = urlsplit(hit.link)
    return {
        "type": "search_result", "title": hit.title, "url": hit.link, "description": hit.text,
        "is_source_local": False, "is_source_both": False, "language": "en", "family_friendly": True,
        "profile": {"name": parts.netloc, "url": hit.link, "long_name": parts.netloc, "img": ""},
        "meta_url": {
            "scheme": parts.scheme, "netloc": parts.netloc, "hostname": parts.hostname or parts.netloc, "favicon": "",
            "path": displayed_link(hit.link).removeprefix(f"{parts.scheme}://{parts.netloc}"),
        },
    }


async def _search(request: Request) -> Response:
    params = dict(request.query_params)
    if request.method == "POST":
        params.update(json_body(await request.body()))
    identity = caller(request, request.headers.get("x-subscription-token"))
    count, offset = params.get("count", 20), params.get("offset", 0)
    try:
        count, offset = int(count), int(offset)
    except (TypeError, ValueError):
        count, offset = 0, -1  # refused below
    if not 1 <= count <= 20:
        raise InvalidParameter("Invalid `count` parameter: an integer from 1 to 20.")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameter(f"Invalid `offset` parameter: an integer from 0 to {MAX_OFFSET}.")
    fields = {"q": params.get("q"), "num": count, "start": offset * count, **extras(params)}
    query, result = await run_search(request, identity, fields, {"num": "count", "start": "offset"})
    results = [_result(hit) for hit in result.hits]
    more = offset < MAX_OFFSET and more_results(request, result, offset * count, count)
    return OrjsonResponse({
        "type": "search",
        "query": {"original": query.q, "more_results_available": more, "show_strict_warning": False,
                  "is_navigational": False, "spellcheck_off": True, "bad_results": False, "should_fallback": False},
        "mixed": {"type": "mixed", "main": [{"type": "web", "index": i, "all": False} for i in range(len(results))],
                  "top": [], "side": []},
        "web": {"type": "search", "family_friendly": True, "results": results},
        "serpsim": serpsim_block(result),
    })


router.add_api_route(f"{PREFIX}/res/v1/web/search", _search, methods=["GET", "POST"], include_in_schema=False)


def _missing(where: str, name: str) -> dict[str, Any]:
    return {"errors": [{"type": "missing", "loc": [where, name], "msg": "Field required", "input": None}]}


def render_error(failure: Failure) -> Rendered:
    status, detail = failure.status, failure.message
    meta: dict[str, Any] = {}
    headers = dict(failure.headers or {})
    if failure.missing_key:
        status, code, detail, meta = 422, "VALIDATION", UNABLE, _missing("header", "x-subscription-token")
    elif status == 401:
        status, code, detail = 422, "SUBSCRIPTION_TOKEN_INVALID", "The provided subscription token is invalid."
        meta = {"component": "authentication"}
    elif failure.missing_query:
        status, code, detail, meta = 422, "VALIDATION", UNABLE, _missing("query", "q")
    elif status == 400:
        status, code = 422, "VALIDATION"
        meta = {"errors": [{"type": "value_error", "msg": failure.message}]}
    elif status == 429:
        code, meta = CODES[429], {"component": "rate_limiter"}
        headers.update({"X-RateLimit-Reset": headers.get("Retry-After", "1"), "X-RateLimit-Remaining": "0"})
    else:
        code = CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
    error = {"id": str(uuid.uuid4()), "status": status, "code": code, "detail": detail, "meta": meta}
    return status, {"type": "ErrorResponse", "error": error, "time": int(time.time())}, headers


SHAPE = Shape("brave", PREFIX, ("api.search.brave.com",), router, render_error)
