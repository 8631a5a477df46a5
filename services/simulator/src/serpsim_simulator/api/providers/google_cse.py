"""Google's Custom Search JSON API (`/customsearch/v1`), as `google-api-python-client` calls it
with its bundled discovery document (`build("customsearch", "v1", developerKey=...,
client_options={"api_endpoint": ...})`), and as LlamaIndex and other tools call it over HTTP.

Request: `GET /customsearch/v1` (and `/customsearch/v1/siterestrict`) with `key`, `cx`
(required, any value: there are no search engines to configure), `q`, `num` (1-10, default 10),
`start` (1-based, `start + num <= 101`) and Google's other parameters (accepted, not applied).
The client refuses keyword arguments its discovery document does not list, so serpsim's extras
reach this shape only as raw query parameters (or take the server's defaults); the README says so.
Response: `customsearch#search` with `url`, `queries{request, nextPage}`, `context`,
`searchInformation` (counts as strings, as Google sends them) and `items[]` (absent when there
are no results, as on Google); `url.template` points back at this server.
Errors: Google's `{"error": {code, message, errors[{message, domain, reason}], status}}`: a wrong
key is 400 `API key not valid...` (reason `API_KEY_INVALID` in `details`), no key 403
`PERMISSION_DENIED`, a bad parameter 400 `INVALID_ARGUMENT`, a rate limit 429 `RESOURCE_EXHAUSTED`;
the client raises them as `HttpError` with `.status_code` and `.reason`.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from ...errors import InvalidParameter
from .._http import OrjsonResponse
from .mapping import (
    Failure,
    Rendered,
    Shape,
    caller,
    extras,
    more_results,
    run_search,
    self_base,
    serpsim_block,
)

router = APIRouter(tags=["google_cse"])
PREFIX = "/cse"
PATH = "/customsearch/v1"
BAD_KEY = "API key not valid. Please pass a valid API key."
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
STATUSES = {
    400: ("INVALID_ARGUMENT", "badRequest"), 403: ("PERMISSION_DENIED", "forbidden"), 404: ("NOT_FOUND", "notFound"),
    405: ("UNIMPLEMENTED", "methodNotAllowed"), 413: ("INVALID_ARGUMENT", "requestTooLarge"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"), 502: ("INTERNAL", "backendError"),
    503: ("UNAVAILABLE", "backendError"), 504: ("DEADLINE_EXCEEDED", "backendError"),
}
TEMPLATE_PARAMS = "q={searchTerms}&num={count?}&start={startIndex?}&cx={cx?}&key={key?}&alt=json"


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except ValueError:
        raise InvalidParameter(f"Invalid value at '{name}' (TYPE_INT32), \"{params[name]}\"") from None


def _item(hit: Any) -> dict[str, Any]:
    host = urlsplit(hit.link).netloc
    return {
        "kind": "customsearch#result", "title": hit.title, "htmlTitle": escape(hit.title), "link": hit.link,
        "displayLink": host, "snippet": hit.text, "htmlSnippet": escape(hit.text), "formattedUrl": hit.link,
        "htmlFormattedUrl": escape(hit.link),
    }


async def _search(request: Request) -> Response:
    started = time.perf_counter()
    params = dict(request.query_params)
    identity = caller(request, params.get("key") or request.headers.get("x-goog-api-key"))
    num, start = _int(params, "num", 10), _int(params, "start", 1)
    if not 1 <= num <= 10:
        raise InvalidParameter("Invalid value for num: it must be between 1 and 10.")
    if start < 1 or start + num > 101:
        raise InvalidParameter("Invalid value for start: it must be at least 1, and start + num at most 101.")
    if not params.get("cx"):
        raise InvalidParameter("Missing required parameter: cx.")
    fields = {"q": params.get("q"), "num": num, "start": start - 1, **extras(params)}
    query, result = await run_search(request, identity, fields, {})
    items = [_item(hit) for hit in result.hits]
    total = str(result.total_results if result.total_results is not None else len(items))
    page = {
        "title": f"Google Custom Search - {query.q}", "totalResults": total, "searchTerms": query.q, "count": len(items),
        "startIndex": start, "inputEncoding": "utf8", "outputEncoding": "utf8", "safe": "off", "cx": params["cx"],
    }
    queries: dict[str, Any] = {"request": [page]}
    if more_results(request, result, start - 1, num) and start + 2 * num <= 101:
        queries["nextPage"] = [{**page, "count": num, "startIndex": start + num}]
    if start > 1:
        queries["previousPage"] = [{**page, "count": num, "startIndex": max(1, start - num)}]
    took = time.perf_counter() - started
    response: dict[str, Any] = {
        "kind": "customsearch#search",
        "url": {"type": "application/json", "template": f"{self_base(request, PREFIX)}{PATH}?{TEMPLATE_PARAMS}"},
        "queries": queries,
        "context": {"title": "serpsim"},
        "searchInformation": {
            "searchTime": round(took, 6), "formattedSearchTime": f"{took:.2f}", "totalResults": total,
            "formattedTotalResults": f"{int(total):,}",
        },
        "serpsim": serpsim_block(result),
    }
    if items:
        response["items"] = items
    return OrjsonResponse(response)


router.add_api_route(f"{PREFIX}{PATH}", _search, methods=["GET"], include_in_schema=False)
router.add_api_route(f"{PREFIX}{PATH}/siterestrict", _search, methods=["GET"], include_in_schema=False)


def render_error(failure: Failure) -> Rendered:
    status, message = failure.status, failure.message
    details: list[dict[str, Any]] = []
    if failure.missing_key:
        status, message = 403, NO_KEY
    elif status == 401:
        status, message = 400, BAD_KEY
        details = [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
            "domain": "googleapis.com", "metadata": {"service": "customsearch.googleapis.com"},
        }]
    elif failure.missing_query:
        message = "Missing required parameter: q."
    state, reason = STATUSES.get(status, ("INTERNAL", "backendError"))
    error: dict[str, Any] = {
        "code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": state,
    }
    if details:
        error["details"] = details
    return status, {"error": error}, dict(failure.headers or {})


SHAPE = Shape("google_cse", PREFIX, ("customsearch.googleapis.com", "www.googleapis.com"), router, render_error)
