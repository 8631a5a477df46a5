"""LangChain's `SearxSearchWrapper` (langchain-community 0.4.2), pointed at the simulator through
`searx_host`: it requests that URL itself (the mount's root), which answers SearXNG's 308 to
`/search`, and the client follows it."""

from __future__ import annotations

import pytest
from langchain_community.utilities import SearxSearchWrapper

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"


def test_results_through_the_root_redirect(simulator, corpus) -> None:
    name, rows = corpus
    searx = SearxSearchWrapper(searx_host=f"{simulator.base_url}/searxng")
    found = searx.results(EIFFEL_QUERY, num_results=3, backend=name)
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    assert found[0]["title"] == EIFFEL and found[0]["snippet"] == eiffel["text"]
    assert found[0]["engines"] == ["serpsim"] and found[0]["category"] == "general"
    assert found[0]["link"].startswith("http")
    # run(): no answers, so the contents of the first k results joined
    assert searx.run(EIFFEL_QUERY, backend=name).startswith(eiffel["text"])


def test_simulated_noisy(simulator) -> None:
    searx = SearxSearchWrapper(searx_host=f"{simulator.base_url}/searxng", k=3)
    found = searx.results("history of the printing press", num_results=10, quality="noisy", seed=1)
    assert len(found) == 10 and all(r["title"].strip() and r["snippet"].strip() for r in found)


def test_errors_as_the_client_reports_them(simulator, keyed_simulator) -> None:
    with pytest.raises(ValueError) as empty:
        SearxSearchWrapper(searx_host=f"{simulator.base_url}/searxng/search").run("   ")
    assert empty.value.args[1] == '{"error":"No query"}'
    wrong = SearxSearchWrapper(searx_host=f"{keyed_simulator.base_url}/searxng", headers={"X-API-Key": "wrong"})
    with pytest.raises(ValueError) as denied:
        wrong.run("hamlet")
    assert "Invalid API key" in denied.value.args[1]
