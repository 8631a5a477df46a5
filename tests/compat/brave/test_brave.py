"""`brave-api-client` 0.2.2 (`Brave`, `AsyncBrave`) in its own environment (`.venv/client-brave`:
its urllib3-future replaces urllib3), pointed at the simulator by `base_url`.

The client's result model has no `title`, `url` or `description` (a bug in 0.2.2: its
`SearchResult` does not inherit them), so titles and URLs are read from `response.json()` and
the structure from `parsed_data`, which validates everything the models require. The client
drops fields its query model does not declare; a subclass of that model sends serpsim's extras
(the README's recipe).
"""

from __future__ import annotations

import asyncio

import niquests
import pytest
from brave_api import AsyncBrave, Brave
from brave_api.web_search.models import WebSearchQueryParams

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"


class SerpsimParams(WebSearchQueryParams):
    """serpsim's extras as declared fields, so the client sends them."""

    backend: str | None = None
    quality: str | None = None
    seed: int | None = None


def test_corpus_rows(simulator, corpus) -> None:
    name, rows = corpus
    brave = Brave(api_key="k", base_url=f"{simulator.base_url}/brave/res/v1")
    response = brave.web_search(SerpsimParams(q=EIFFEL_QUERY, count=3, backend=name))
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    top = response.json()["web"]["results"][0]
    assert (top["title"], top["description"]) == (EIFFEL, eiffel["text"])
    parsed = response.parsed_data
    assert parsed.type == "search" and parsed.query.original == EIFFEL_QUERY
    assert parsed.web.family_friendly is True and parsed.web.results[0].language == "en"
    assert parsed.web.results[0].meta_url.netloc == top["url"].split("/")[2]
    # The corpus holds fewer rows than a page of 20: no page follows.
    whole = brave.web_search(SerpsimParams(q=EIFFEL_QUERY, count=20, backend=name)).json()
    assert len(whole["web"]["results"]) <= len(rows) and whole["query"]["more_results_available"] is False


def test_async_simulated_noisy(simulator) -> None:
    brave = AsyncBrave(api_key="k", base_url=f"{simulator.base_url}/brave/res/v1")
    response = asyncio.run(brave.web_search(SerpsimParams(q="who wrote hamlet", count=3, quality="noisy", seed=2)))
    body = response.json()
    assert len(response.parsed_data.web.results) == 3
    assert all(r["title"].strip() and r["description"].strip() for r in body["web"]["results"])
    assert body["serpsim"]["labels"] == ["noisy"] * 3
    assert body["query"]["more_results_available"] is True  # the simulation writes pages up to max_pages


def test_bad_key_is_brave_422(keyed_simulator) -> None:
    brave = Brave(api_key="wrong", base_url=f"{keyed_simulator.base_url}/brave/res/v1", retry_config=None)
    with pytest.raises(niquests.exceptions.HTTPError) as denied:
        brave.web_search(WebSearchQueryParams(q="hamlet"))
    assert denied.value.response.status_code == 422
    error = denied.value.response.json()["error"]
    assert (error["code"], error["detail"]) == ("SUBSCRIPTION_TOKEN_INVALID", "The provided subscription token is invalid.")
