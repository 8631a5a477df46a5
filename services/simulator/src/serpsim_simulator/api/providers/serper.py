"""Serper's Google Search API (`POST /search` at google.serper.dev), as litellm's Serper search,
Haystack's `SerperDevWebSearch` and LangChain's `GoogleSerperAPIWrapper` call it.

Request: JSON `{"q", "num" (default 10), "page" (1-based), "gl", "hl", "location", "tbs",
"autocorrect"}`, with the key in `X-API-KEY` (or `api_key`/`apiKey` in the query string); a GET
with the same fields as query parameters is served too (smolagents sends one), and query-string
fields are merged under the body's (LangChain). Unknown body fields reach us from litellm
(`**kwargs`) and Haystack (`search_params`): serpsim's extras go there.
Response: `{searchParameters, organic[{title, link, snippet, position}], credits}`; `organic` is
always present (Haystack reads it unconditionally).
Errors: Serper's `{"message", "statusCode"}`; a missing or wrong key is 403 `Unauthorized.`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .._http import OrjsonResponse
from .mapping import (
    Failure,
    Rendered,
    Shape,
    caller,
    extras,
    json_body,
    run_search,
    serpsim_block,
)

router = APIRouter(tags=["serper"])
PREFIX = "/serper"
_ECHOED = ("gl", "hl", "location", "tbs", "autocorrect")


async def _search(request: Request) -> Response:
    query = dict(request.query_params)
    body = {**query, **(json_body(await request.body()) if request.method == "POST" else {})}
    key = request.headers.get("x-api-key") or query.get("api_key") or query.get("apiKey")
    identity = caller(request, key)
    num, page = body.get("num", 10), body.get("page", 1)
    try:
        start = (int(page) - 1) * int(num)
    except (TypeError, ValueError):
        start = -1  # refused below, naming `page`
    fields = {"q": body.get("q"), "num": num, "start": start, **extras(body)}
    params, result = await run_search(request, identity, fields, {"start": "page"})
    organic = [
        {"title": hit.title, "link": hit.link, "snippet": hit.text, "position": params.start + rank + 1}
        for rank, hit in enumerate(result.hits)
    ]
    echo: dict[str, Any] = {"q": params.q, "type": "search", "num": params.num, "page": params.start // params.num + 1}
    echo.update({k: body[k] for k in _ECHOED if k in body})
    echo["engine"] = "google"
    return OrjsonResponse({"searchParameters": echo, "organic": organic, "credits": 1, "serpsim": serpsim_block(result)})


router.add_api_route(f"{PREFIX}/search", _search, methods=["GET", "POST"], include_in_schema=False)


def render_error(failure: Failure) -> Rendered:
    status, message = failure.status, failure.message
    if status == 401:
        status, message = 403, "Unauthorized."
    elif failure.missing_query:
        message = "Missing query parameter"
    return status, {"message": message, "statusCode": status}, dict(failure.headers or {})


SHAPE = Shape("serper", PREFIX, ("google.serper.dev",), router, render_error)
