"""Tavily's Search API (`POST /search`), as `tavily-python` and LangChain's Tavily tools call it.

Request: a JSON body `{"query", "max_results" (1-20, default 5), "include_answer",
"include_raw_content", "topic", "search_depth", ...}`; the key as `Authorization: Bearer` or as
`api_key` in the body (LangChain community, GPT Researcher). `tavily-python` merges unknown
keyword arguments into the body, so `quality=`, `noise_ratio=`, `backend=` reach us there.
Response: `{query, answer, images, results[{title, url, content, score, raw_content?}],
response_time, follow_up_questions, request_id}`; `answer` (asked with `include_answer`) is the
top result's text, its first sentence for `"basic"`, as no model writes an answer here. Filters
(`topic`, dates, domains) are validated and otherwise not applied: a simulation has no dates.
Errors: `{"detail": {"error": message}}` with Tavily's statuses (400, 401, 429...), which
`tavily-python` raises as `BadRequestError`, `InvalidAPIKeyError`, `UsageLimitExceededError`.
"""

from __future__ import annotations

import re
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
    elapsed,
    extras,
    json_body,
    run_search,
    serpsim_block,
)

router = APIRouter(tags=["tavily"])
PREFIX = "/tavily"

INVALID_KEY = "Unauthorized: missing or invalid API key."
TOPICS = ("general", "news", "finance")
DEPTHS = ("basic", "advanced", "fast", "ultra-fast")
_SENTENCE = re.compile(r"(?<=[.!?])\s")


def _choice(body: dict[str, Any], field: str, allowed: tuple[str, ...]) -> None:
    value = body.get(field)
    if value is not None and value not in allowed:
        names = ", ".join(f"'{a}'" for a in allowed)
        raise InvalidParameter(f"Invalid {field}. Must be one of {names}.")


def _answer(text: str, mode: Any) -> str:
    return text if mode == "advanced" else _SENTENCE.split(text.strip(), maxsplit=1)[0]


@request_only(router, "POST", f"{PREFIX}/search", include_in_schema=False)
async def search(request: Request) -> Response:
    started = time.perf_counter()
    body = json_body(await request.body())
    key = body.get("api_key") if isinstance(body.get("api_key"), str) else None
    identity = caller(request, bearer_token(request) or key)
    _choice(body, "topic", TOPICS)
    _choice(body, "search_depth", DEPTHS)
    max_results = body.get("max_results", 5)
    if not isinstance(max_results, int) or isinstance(max_results, bool) or not 1 <= max_results <= 20:
        raise InvalidParameter("Invalid max_results. Must be an integer between 1 and 20.")
    fields = {"q": body.get("query"), "num": max_results, **extras(body)}
    params, result = await run_search(request, identity, fields, {"q": "query", "num": "max_results"})

    raw = body.get("include_raw_content") not in (None, False)
    results = []
    for rank, hit in enumerate(result.hits):
        item: dict[str, Any] = {
            "title": hit.title, "url": hit.link, "content": hit.text,
            "score": hit.score if hit.score is not None else rank_score(rank),
        }
        if raw:
            item["raw_content"] = hit.text
        results.append(item)
    mode = body.get("include_answer")
    answer = _answer(result.hits[0].text, mode) if mode not in (None, False) and result.hits else None
    response: dict[str, Any] = {
        "query": params.q, "follow_up_questions": None, "answer": answer, "images": [], "results": results,
        "response_time": elapsed(started), "request_id": str(uuid.uuid4()), "serpsim": serpsim_block(result),
    }
    if body.get("include_usage"):
        response["usage"] = {"credits": 1}
    return OrjsonResponse(response)


def render_error(failure: Failure) -> Rendered:
    if failure.status == 401:
        message = INVALID_KEY
    elif failure.missing_query:
        message = "Query is missing."
    else:
        message = failure.message
    return failure.status, {"detail": {"error": message}}, dict(failure.headers or {})


SHAPE = Shape("tavily", PREFIX, ("api.tavily.com",), router, render_error)
