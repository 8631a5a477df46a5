"""`tavily-python` 0.8.5 (`TavilyClient`, `AsyncTavilyClient`), pointed at the simulator through
its `api_base_url`; every assertion is on what the client returned or raised."""

from __future__ import annotations

import asyncio

import pytest
from tavily import AsyncTavilyClient, TavilyClient
from tavily.errors import BadRequestError, InvalidAPIKeyError

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"


def test_corpus_rows_answer_and_raw_content(simulator, corpus) -> None:
    name, rows = corpus
    client = TavilyClient(api_key="tvly-any", api_base_url=f"{simulator.base_url}/tavily")
    found = client.search(EIFFEL_QUERY, max_results=3, include_answer=True, include_raw_content=True, backend=name)
    top = found["results"][0]
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    assert (top["title"], top["content"], top["raw_content"]) == (EIFFEL, eiffel["text"], eiffel["text"])
    assert isinstance(top["score"], float) and 1 <= len(found["results"]) <= 3
    assert found["answer"] == eiffel["text"].split(". ")[0] or found["answer"].startswith("The Eiffel Tower")
    assert found["query"] == EIFFEL_QUERY
    # raw_content only when asked
    plain = client.search(EIFFEL_QUERY, max_results=2, backend=name)
    assert "raw_content" not in plain["results"][0] and plain["answer"] is None


def test_simulated_noisy_through_extra_kwargs(simulator) -> None:
    client = AsyncTavilyClient(api_key="tvly-any", api_base_url=f"{simulator.base_url}/tavily")
    found = asyncio.run(client.search("who wrote hamlet", max_results=3, quality="noisy", seed=7))
    assert len(found["results"]) == 3
    assert all(r["title"].strip() and r["url"].startswith("http") for r in found["results"])
    assert found["serpsim"]["labels"] == ["noisy"] * 3


def test_bad_key_and_bad_input(keyed_simulator, simulator, corpus) -> None:
    bad = TavilyClient(api_key="tvly-wrong", api_base_url=f"{keyed_simulator.base_url}/tavily")
    with pytest.raises(InvalidAPIKeyError, match="missing or invalid API key"):
        bad.search("anything")
    good = TavilyClient(api_key=keyed_simulator.api_key, api_base_url=f"{keyed_simulator.base_url}/tavily")
    assert good.search("who wrote hamlet", max_results=1)["results"]
    client = TavilyClient(api_key="tvly-any", api_base_url=f"{simulator.base_url}/tavily")
    with pytest.raises(BadRequestError, match="real search"):
        client.search(EIFFEL_QUERY, backend=corpus[0], quality="noisy")
    with pytest.raises(BadRequestError, match="max_results"):
        client.search(EIFFEL_QUERY, max_results=50)
