"""Serper through litellm 1.110.2 (`litellm.search(search_provider="serper", api_base=...)`, the
maintained client that takes a base URL) and Haystack's `SerperDevWebSearch` (serperdev-haystack
2.0.0), whose URL is the module constant `SERPERDEV_BASE_URL`: set here at run time with
monkeypatch, the library's files unchanged."""

from __future__ import annotations

import litellm
import pytest
from haystack.utils import Secret
from haystack_integrations.components.websearch.serperdev import websearch
from haystack_integrations.components.websearch.serperdev.websearch import SerperDevError, SerperDevWebSearch

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"


def test_litellm_corpus_rows_and_pages(simulator, corpus) -> None:
    name, rows = corpus
    base = f"{simulator.base_url}/serper"
    found = litellm.search(EIFFEL_QUERY, search_provider="serper", api_base=base, api_key="k", max_results=2, backend=name)
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    assert (found.results[0].title, found.results[0].snippet) == (EIFFEL, eiffel["text"])
    assert len(found.results) == 1 and found.results[0].url.startswith("http")  # BM25: one row matches
    # `page` passes through litellm's kwargs: pages continue the ranking of a query matching every row
    every = "eiffel austen everest nile gutenberg coffee"
    page1, page2 = (
        litellm.search(every, search_provider="serper", api_base=base, api_key="k", max_results=2, page=p, backend=name)
        for p in (1, 2)
    )
    assert len(page1.results) == 2 and len(page2.results) == 2
    assert not {r.url for r in page1.results} & {r.url for r in page2.results}


def test_litellm_bad_key(keyed_simulator) -> None:
    with pytest.raises(litellm.exceptions.PermissionDeniedError) as denied:
        litellm.search("hamlet", search_provider="serper", api_base=f"{keyed_simulator.base_url}/serper", api_key="wrong")
    assert denied.value.status_code == 403 and "Unauthorized." in denied.value.message


def test_haystack_through_its_module_constant(simulator, monkeypatch) -> None:
    monkeypatch.setattr(websearch, "SERPERDEV_BASE_URL", f"{simulator.base_url}/serper/search")
    component = SerperDevWebSearch(api_key=Secret.from_token("k"), top_k=3, search_params={"quality": "noisy", "seed": 3})
    out = component.run(query="who painted the mona lisa")
    assert len(out["documents"]) == 3 and len(out["links"]) == 3
    assert all(d.content.strip() and d.meta["title"].strip() for d in out["documents"])
    assert [d.meta["link"] for d in out["documents"]] == out["links"]


def test_haystack_bad_key(keyed_simulator, monkeypatch) -> None:
    monkeypatch.setattr(websearch, "SERPERDEV_BASE_URL", f"{keyed_simulator.base_url}/serper/search")
    with pytest.raises(SerperDevError, match="403 Forbidden") as denied:
        SerperDevWebSearch(api_key=Secret.from_token("wrong")).run(query="hamlet")
    assert denied.value.__cause__.response.json() == {"message": "Unauthorized.", "statusCode": 403}
