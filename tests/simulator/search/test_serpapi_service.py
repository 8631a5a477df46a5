"""Real Google through the service: the `serpapi` backend behind /search and /retrieve, against a
fake SerpApi on loopback (the real one cannot be reached here)."""

from __future__ import annotations

import logging

import pytest
from serpsim_protocol import SearchResponse

from ..backends.fake_serpapi import OUT_OF_SEARCHES
from .conftest import KEY, RealSearch


def test_success_passes_google_results_through(real_search: RealSearch) -> None:
    c, upstream = real_search.client, real_search.upstream
    upstream.requests.clear()
    r = c.get("/search.json", params={"q": "who wrote hamlet", "num": 3, "start": 10, "backend": "google",
                                      "api_key": "caller-key", "hl": "de"})
    assert r.status_code == 200
    body = r.json()
    SearchResponse.model_validate(body)
    assert [(o["position"], o["title"], o["link"], o["snippet"], o["displayed_link"], o["source"])
            for o in body["organic_results"]] == [
        (10 + i, f"who wrote hamlet result {10 + i}", f"https://example.org/who-wrote-hamlet/{10 + i}",
         f"Snippet {10 + i} about who wrote hamlet.", f"https://example.org › {10 + i}", "Example")
        for i in (1, 2, 3)
    ]
    assert body["search_information"]["total_results"] == 1234
    assert body["backend"] == {"name": "google", "kind": "serpapi", "engine": "google", "cached": False}
    assert "simulation" not in body and "api_key" not in body["search_parameters"]
    # The server's own key and fixed parameters go upstream, never the caller's key or `hl`.
    (sent,) = upstream.requests
    assert sent == {"q": "who wrote hamlet", "engine": "google", "num": "3", "start": "10", "output": "json",
                    "gl": "us", "hl": "en", "api_key": KEY}
    r = c.post("/retrieve", json={"queries": ["who wrote hamlet"], "topk": 2, "backend": "google", "return_scores": True})
    items = r.json()["result"][0]
    assert [i["document"] for i in items] == [
        {"id": f"https://example.org/who-wrote-hamlet/{k}", "contents": f'"who wrote hamlet result {k}"\nSnippet {k} about who wrote hamlet.'}
        for k in (1, 2)
    ]
    assert items[0]["score"] > items[1]["score"]  # Google has no scores: a descending rank score


def test_a_cache_hit_never_reaches_the_upstream(real_search: RealSearch) -> None:
    c, upstream = real_search.client, real_search.upstream
    upstream.requests.clear()
    params = {"q": "cached upstream query", "num": 4, "backend": "google", "api_key": "google-account"}
    first = c.get("/search.json", params=params).json()
    second = c.get("/search.json", params=params).json()
    assert len(upstream.requests) == 1
    assert second["search_metadata"]["cached"] is True and second["backend"]["cached"] is True
    assert second["organic_results"] == first["organic_results"]
    # One cache under every shape: a /retrieve of the same page is the same search.
    r = c.post("/retrieve", json={"queries": ["cached upstream query"], "topk": 4, "backend": "google"},
               headers={"X-API-KEY": "google-account"})
    assert [i["id"] for i in r.json()["result"][0]] == [o["link"] for o in first["organic_results"]]
    assert len(upstream.requests) == 1
    c.get("/search.json", params={**params, "no_cache": "true"})
    assert len(upstream.requests) == 2
    account = c.get("/account.json", params={"api_key": "google-account"}).json()
    assert (account["total_searches"], account["cache_hits"]) == (4, 2)


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("err401", 502, "rejected this server's API key"),  # the server's key, not the caller's: never a 401
        ("err429", 503, OUT_OF_SEARCHES),
        ("slow", 504, "did not answer in time"),
        ("garbage", 502, "not a JSON object"),
    ],
)
def test_upstream_errors_keep_our_contract(real_search: RealSearch, query: str, status: int, says: str) -> None:
    c = real_search.client
    r = c.get("/search.json", params={"q": query, "backend": "google"})
    assert r.status_code == status and says.lower() in r.json()["error"].lower(), r.json()
    if query == "err429":
        assert r.headers["retry-after"] == "120"
    r = c.post("/retrieve", json={"queries": [query], "backend": "google"})
    assert r.status_code == status and says.lower() in r.json()["detail"].lower()
    assert c.get("/search.json", params={"q": "still serving", "backend": "google"}).status_code == 200


def test_the_key_is_never_in_responses_logs_or_the_archive(
    real_search: RealSearch, caplog: pytest.LogCaptureFixture
) -> None:
    c = real_search.client
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for query in ("echo", "err401", "err400", "err503", "garbage", "slow", "an ordinary query"):
        r = c.get("/search.json", params={"q": query, "backend": "google", "no_cache": "true"})
        seen.append(r.text)
        if r.status_code == 200:
            archived = c.get(f"/searches/{r.json()['search_metadata']['id']}.json")
            assert archived.status_code == 200
            seen.append(archived.text)
            seen.append(c.get(f"/searches/{r.json()['search_metadata']['id']}.html").text)
        seen.append(c.post("/retrieve", json={"queries": [query], "backend": "google", "no_cache": True}).text)
    seen.append(c.get("/backends").text)
    seen.append(c.get("/readyz").text)
    seen += [record.getMessage() for record in caplog.records]
    # The requests to SerpApi were logged (so the check below read real log lines) ...
    assert any("search.json" in line for line in seen)
    # ... and the key is in none of them, not even where the upstream echoed it back.
    assert not [line for line in seen if KEY in line]
    assert any("<redacted>" in line for line in seen)
