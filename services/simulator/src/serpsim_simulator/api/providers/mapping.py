"""What every provider shape shares: its description (`Shape`), the caller's key, the mapping of
its request onto SerpApi's validated parameters and then one `SearchQuery`, and one call to the
search service.

A provider module only names its own fields (`Tavily max_results` is SerpApi's `num`), reads
its key where its clients put it, and renders the `SearchResult`. Validation (lengths, `num`
bounds, backend names, per-kind rules), admission, cache and accounting are the ones the SerpApi
shape uses: the request is validated by this app's own `Contract.search` model and searched by
`SearchService.run`, so a Tavily search and a SerpApi search with the same fields are the same
search (and the same cache entry).

serpsim's extra parameters (`EXTRAS`) are accepted on every shape, in the body or the query
string, wherever that provider's clients put unknown arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from serpsim_protocol import SearchRequest

from ...errors import InvalidParameter, Unauthorized, validation_message
from ...search.result import SearchResult
from ...search.service import SearchService
from ..contract import Contract
from ..deps import base_url_of, identify_key
from ..security import KeyStore
from ..serpapi import search_query

EXTRAS = ("backend", "quality", "noise_ratio", "noise_count", "question", "answer", "seed", "no_cache")
"""serpsim's parameters beyond each provider's own, taken from the body or the query string."""

HOST_ROUTED = "serpsim.host_routed"
"""Scope key set by `ProviderHosts` when a request reached its shape by its `Host` header."""

NO_KEY = "No API key was sent."


class MissingKey(Unauthorized):
    """The server needs a key and the request carried none (some providers answer it apart from
    a wrong key: Google's 403 against its 400)."""


class MissingQuery(InvalidParameter):
    """The request has no (or a blank) query: every provider has its own words for it."""


@dataclass(frozen=True)
class Failure:
    """An error on its way out, as a provider's renderer sees it."""

    status: int
    message: str
    error: Exception | None = None
    headers: Mapping[str, str] | None = None

    @property
    def missing_key(self) -> bool:
        return isinstance(self.error, MissingKey)

    @property
    def missing_query(self) -> bool:
        return isinstance(self.error, MissingQuery)


Rendered = tuple[int, Any, dict[str, str]]
"""(status, JSON body, headers) in the provider's own error format."""


@dataclass(frozen=True)
class Shape:
    """One provider's API: its routes under `prefix`, the hosts its clients hard-code, and its
    error format."""

    name: str
    prefix: str
    hosts: tuple[str, ...]
    router: APIRouter
    render_error: Callable[[Failure], Rendered]


def caller(request: Request, key: str | None) -> str:
    """The caller's identity from the key where this provider's clients put it; `MissingKey`
    when keys are configured and none was sent, 401 (`Unauthorized`) for a wrong one."""
    keys: KeyStore = request.state.keys
    if key is not None and not key.strip():
        key = None
    if key is None and not keys.open:
        raise MissingKey(NO_KEY)
    return identify_key(request, key)


def self_base(request: Request, prefix: str) -> str:
    """The base URL this shape was reached by: forwarded host and prefix, plus the shape's path
    prefix unless the request came by the provider's own host name."""
    return base_url_of(request) + ("" if request.scope.get(HOST_ROUTED) else prefix)


def extras(*sources: Mapping[str, Any]) -> dict[str, Any]:
    """serpsim's parameters from the sources given, the later winning; None means unset."""
    found: dict[str, Any] = {}
    for source in sources:
        for name in EXTRAS:
            value = source.get(name)
            if value is not None:
                found[name] = value
    return found


def search_request(contract: Contract, fields: Mapping[str, Any], names: Mapping[str, str]) -> SearchRequest:
    """SerpApi's validated parameters from the provider's, mapped to SerpApi's names (`q`, `num`,
    `start` and `EXTRAS`). A missing or blank query is `MissingQuery`; any other bad value a 400
    naming the provider's field (`names`: SerpApi's name -> the provider's)."""
    query = fields.get("q")
    if query is None or (isinstance(query, str) and not query.strip()):
        raise MissingQuery("Missing query.")
    try:
        return contract.search.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        errors = [
            {**err, "loc": tuple(names.get(str(p), p) for p in err["loc"])} for err in exc.errors(include_url=False)
        ]
        raise InvalidParameter(validation_message(errors)) from None


async def run_search(
    request: Request, identity: str, fields: Mapping[str, Any], names: Mapping[str, str]
) -> tuple[SearchRequest, SearchResult]:
    """The one search: the provider's fields validated as SerpApi's parameters (`search_request`)
    and searched as one `SearchQuery` by the app's search service."""
    state = request.state
    params = search_request(state.contract, fields, names)
    service: SearchService = state.search
    (result,) = await service.run([search_query(params)], identity)
    return params, result


def more_results(request: Request, result: SearchResult, first: int, num: int) -> bool:
    """Whether a page follows this one (`first`: the 0-based rank of its first result). A backend
    that counts its matches says so; the simulation writes any page asked for, up to `max_pages` as
    on the SerpApi route (a short page is the model writing fewer documents, not the end); a corpus
    page short of `num` is the end."""
    if result.total_results is not None:
        return first + len(result.hits) < result.total_results
    if result.kind == "simulated":
        return first // num + 1 < request.state.settings.simulation.max_pages
    return len(result.hits) == num


def serpsim_block(result: SearchResult) -> dict[str, Any]:
    """serpsim's own block in every provider's response (their clients ignore unknown keys):
    the backend that answered and, for the simulation, each result's label in order."""
    block: dict[str, Any] = {"backend": result.backend, "kind": result.kind, "cached": result.cached}
    if result.kind == "simulated":
        block["labels"] = result.labels
    return block


def json_body(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; anything else is a 400."""
    import orjson

    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidParameter("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    return body


def elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)
