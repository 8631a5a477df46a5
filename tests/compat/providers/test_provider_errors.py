"""Each provider shape's bad input as that provider answers it (status and error envelope, never
a 5xx), and the routing by `Host`, over plain HTTP (httpx) against the keyed simulator: what the
clients' own error paths read is checked in each client's test file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

BIG = b'{"query": "' + b"x" * (2 << 20) + b'"}'  # over the server's 1 MiB body limit


def tavily(body: dict[str, Any]) -> dict[str, Any]:
    return body["detail"]["error"]


def serper(body: dict[str, Any]) -> str:
    assert set(body) == {"message", "statusCode"}
    return body["message"]


def brave(body: dict[str, Any]) -> str:
    assert body["type"] == "ErrorResponse"
    return f'{body["error"]["code"]}: {body["error"]["detail"]} {body["error"]["meta"]}'


def google(body: dict[str, Any]) -> str:
    error = body["error"]
    assert error["errors"][0]["message"] == error["message"]
    return f'{error["status"]}: {error["message"]}'


def exa(body: dict[str, Any]) -> str:
    assert set(body) == {"requestId", "error", "tag"}
    return f'{body["tag"]}: {body["error"]}'


def searx(body: dict[str, Any]) -> str:
    return body["error"]


# name -> (method, path, its auth header for a key, how to read its error body, a method it does not serve)
SHAPES: dict[str, tuple[str, str, Callable[[str], dict[str, str]], Callable[[dict[str, Any]], str], str]] = {
    "tavily": ("POST", "/tavily/search", lambda k: {"Authorization": f"Bearer {k}"}, tavily, "GET"),
    "serper": ("POST", "/serper/search", lambda k: {"X-API-KEY": k}, serper, "PUT"),
    "brave": ("GET", "/brave/res/v1/web/search", lambda k: {"X-Subscription-Token": k}, brave, "DELETE"),
    "google": ("GET", "/cse/customsearch/v1", lambda k: {"X-Goog-Api-Key": k}, google, "POST"),
    "exa": ("POST", "/exa/search", lambda k: {"x-api-key": k}, exa, "GET"),
    "searxng": ("GET", "/searxng/search", lambda k: {"X-API-Key": k}, searx, "PUT"),
}
QUERY_FIELD = {"tavily": "query", "serper": "q", "brave": "q", "google": "q", "exa": "query", "searxng": "q"}


def _send(base: str, name: str, key: str | None, query: str | None, method: str | None = None, content: bytes | None = None) -> httpx.Response:
    default_method, path, auth, _, _ = SHAPES[name]
    method = method or default_method
    headers = auth(key) if key is not None else {}
    params: dict[str, str] = {"cx": "x"} if name == "google" else {"format": "json"} if name == "searxng" else {}
    fields = {QUERY_FIELD[name]: query} if query is not None else {}
    if method == "POST" and content is None and name != "google":
        return httpx.request(method, base + path, headers=headers, params=params, json=fields, timeout=60)
    return httpx.request(method, base + path, headers=headers, params={**params, **fields}, content=content, timeout=60)


EXPECTED_BAD_KEY = {
    "tavily": (401, "Unauthorized: missing or invalid API key."),
    "serper": (403, "Unauthorized."),
    "brave": (422, "SUBSCRIPTION_TOKEN_INVALID: The provided subscription token is invalid. {'component': 'authentication'}"),
    "google": (400, "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."),
    "exa": (401, "INVALID_API_KEY: Invalid API key"),
    "searxng": (401, "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"),
}
EXPECTED_NO_QUERY = {
    "tavily": (400, "Query is missing."),
    "serper": (400, "Missing query parameter"),
    "brave": (422, "VALIDATION: Unable to validate request parameter(s) {'errors': [{'type': 'missing', 'loc': ['query', 'q'], 'msg': 'Field required', 'input': None}]}"),
    "google": (400, "INVALID_ARGUMENT: Missing required parameter: q."),
    "exa": (400, 'INVALID_REQUEST_BODY: Invalid request body | Validation error: Invalid input: expected string, received undefined at "query"'),
    "searxng": (400, "No query"),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_bad_key_missing_query_wrong_method_oversized(keyed_simulator, name: str) -> None:
    base, key = keyed_simulator.base_url, keyed_simulator.api_key
    read = SHAPES[name][3]
    answers = {
        "bad key": _send(base, name, "wrong", "hamlet"),
        "no query": _send(base, name, key, None),
        "wrong method": _send(base, name, key, "hamlet", method=SHAPES[name][4]),
        "oversized": _send(base, name, key, None, method="POST", content=BIG),
    }
    assert all(r.status_code < 500 for r in answers.values()), {k: r.status_code for k, r in answers.items()}
    assert (answers["bad key"].status_code, read(answers["bad key"].json())) == EXPECTED_BAD_KEY[name]
    assert (answers["no query"].status_code, read(answers["no query"].json())) == EXPECTED_NO_QUERY[name]
    assert answers["wrong method"].status_code == 405 and "Method Not Allowed" in read(answers["wrong method"].json())
    assert answers["oversized"].status_code == 413
    assert "Request body too large." in read(answers["oversized"].json())


def test_missing_key_where_providers_tell_it_apart(keyed_simulator) -> None:
    base = keyed_simulator.base_url
    google_none = _send(base, "google", None, "hamlet")
    assert google_none.status_code == 403 and google(google_none.json()).startswith("PERMISSION_DENIED: Method doesn't allow")
    brave_none = _send(base, "brave", None, "hamlet")
    assert brave_none.status_code == 422 and "'loc': ['header', 'x-subscription-token']" in brave(brave_none.json())


def test_routing_by_host_and_forwarded_self_links(simulator, corpus) -> None:
    base, name = simulator.base_url, corpus[0]
    by_host = httpx.post(f"{base}/search", json={"query": "eiffel tower", "backend": name}, headers={"Host": "api.tavily.com"})
    assert by_host.status_code == 200 and by_host.json()["results"][0]["title"] == "Eiffel Tower"
    for host, path in (("customsearch.googleapis.com", "/customsearch/v1"), ("www.googleapis.com", "/customsearch/v1")):
        cse = httpx.get(f"{base}{path}", params={"q": "eiffel tower", "cx": "x", "backend": name}, headers={"Host": host})
        assert cse.json()["url"]["template"].startswith(f"http://{host}/customsearch/v1?")  # no /cse: reached by host
    searx = httpx.get(f"{base}/searxng?q=eiffel&format=json", headers={"X-Forwarded-Host": "search.example", "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/sim"})
    assert searx.status_code == 308 and searx.headers["location"] == "https://search.example/sim/searxng/search?q=eiffel&format=json"
    exa_host = httpx.post(f"{base}/search", json={"query": "eiffel tower", "backend": name}, headers={"Host": "api.exa.ai"})
    assert exa_host.json()["results"][0]["title"] == "Eiffel Tower"
    brave_host = httpx.get(f"{base}/res/v1/web/search", params={"q": "eiffel", "backend": name}, headers={"Host": "api.search.brave.com"})
    assert brave_host.json()["web"]["results"][0]["title"] == "Eiffel Tower"
    serper_host = httpx.post(f"{base}/search", json={"q": "eiffel", "backend": name}, headers={"Host": "google.serper.dev"})
    assert serper_host.json()["organic"][0]["title"] == "Eiffel Tower"
    # any other host: SerpApi's /search, as before
    serpapi = httpx.get(f"{base}/search", params={"q": "eiffel", "backend": name})
    assert serpapi.json()["organic_results"][0]["title"] == "Eiffel Tower"
