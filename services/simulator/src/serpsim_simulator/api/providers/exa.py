"""Exa's search API (`POST /search`), as `exa-py` (`Exa`, `AsyncExa`) calls it.

Request: JSON `{"query", "numResults" (1-100, default 10), "type", "contents": {"text":
{"maxCharacters"}, "highlights", "summary"}, ...}` with the key in `x-api-key` (or Bearer).
`exa-py` asks for `contents.text` by default and merges `extra_body=` into the body: serpsim's
extras go there. Filters (domains, dates, category) are accepted and not applied.
Response: `{requestId, resolvedSearchType, results[{id, url, title, score, publishedDate,
author, text?, highlights?, summary?}], searchTime, costDollars}`; `results` is always there
(`exa-py` reads it unconditionally).
Errors: Exa's `{"requestId", "error", "tag"}` (`INVALID_API_KEY` 401, `INVALID_REQUEST_BODY`
400...), which `exa-py` raises as `ValueError("Request failed with status code N: <body>")`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from ...errors import InvalidParameter
from .._http import OrjsonResponse, request_only
from ..retrieve import rank_score
from ..security import bearer_token
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

router = APIRouter(tags=["exa"])
PREFIX = "/exa"
MISSING_QUERY = 'Invalid request body | Validation error: Invalid input: expected string, received undefined at "query"'
TAGS = {
    401: "INVALID_API_KEY", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE",
    429: "RATE_LIMIT_EXCEEDED", 400: "INVALID_REQUEST_BODY",
}


def _text_limit(contents: Any) -> int | None:
    """`contents.text`: True or `{"maxCharacters": n}` asks for the text (0 = whole); absent or False does not."""
    if not isinstance(contents, dict):
        return None
    text = contents.get("text")
    if text is True:
        return 0
    if isinstance(text, dict):
        limit = text.get("maxCharacters", 0)
        return limit if isinstance(limit, int) and limit >= 0 else 0
    return None


@request_only(router, "POST", f"{PREFIX}/search", include_in_schema=False)
async def search(request: Request) -> Response:
    started = time.perf_counter()
    body = json_body(await request.body())
    identity = caller(request, request.headers.get("x-api-key") or bearer_token(request))
    num = body.get("numResults", 10)
    if not isinstance(num, int) or isinstance(num, bool) or not 1 <= num <= 100:
        raise InvalidParameter("Invalid request body | numResults must be an integer from 1 to 100")
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise InvalidParameter("Invalid request body | Validation error: query must be a string")
    fields = {"q": query, "num": num, **extras(body)}
    _, result = await run_search(request, identity, fields, {"q": "query", "num": "numResults"})

    contents = body.get("contents", {})
    limit = _text_limit(contents)
    results = []
    for rank, hit in enumerate(result.hits):
        item: dict[str, Any] = {
            "id": hit.link, "url": hit.link, "title": hit.title,
            "score": hit.score if hit.score is not None else rank_score(rank), "publishedDate": None, "author": None,
        }
        if limit is not None:
            item["text"] = hit.text[:limit] if limit else hit.text
        if isinstance(contents, dict) and contents.get("highlights"):
            item["highlights"], item["highlightScores"] = [hit.text.split(". ")[0]], [1.0]
        if isinstance(contents, dict) and contents.get("summary"):
            item["summary"] = hit.text
        results.append(item)
    return OrjsonResponse({
        "requestId": uuid.uuid4().hex, "resolvedSearchType": "neural", "results": results,
        "searchTime": round((time.perf_counter() - started) * 1000, 1), "costDollars": {"total": 0.0},
        "serpsim": serpsim_block(result),
    })


def render_error(failure: Failure) -> Rendered:
    status, message = failure.status, failure.message
    if status == 401:
        message = "Invalid API key"
    elif failure.missing_query:
        message = MISSING_QUERY
    tag = TAGS.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
    return status, {"requestId": uuid.uuid4().hex, "error": message, "tag": tag}, dict(failure.headers or {})


SHAPE = Shape("exa", PREFIX, ("api.exa.ai",), router, render_error)
