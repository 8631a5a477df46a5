"""`exa-py` 2.27.0: `Exa(base_url=...)` and `AsyncExa(api_base=...)` (the two spell it differently);
serpsim's extras travel in `extra_body`."""

from __future__ import annotations

import asyncio

import pytest
from exa_py import AsyncExa, Exa

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"


def test_corpus_rows_with_text(simulator, corpus) -> None:
    name, rows = corpus
    exa = Exa(api_key="k", base_url=f"{simulator.base_url}/exa")
    found = exa.search(EIFFEL_QUERY, num_results=2, extra_body={"backend": name})
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    top = found.results[0]
    assert (top.title, top.text) == (EIFFEL, eiffel["text"]) and len(found.results) == 1  # BM25: one row matches
    assert top.url.startswith("http") and isinstance(top.score, float)
    short = exa.search(EIFFEL_QUERY, num_results=1, contents={"text": {"maxCharacters": 9}}, extra_body={"backend": name})
    assert short.results[0].text == eiffel["text"][:9]
    bare = exa.search(EIFFEL_QUERY, num_results=1, contents=False, extra_body={"backend": name})
    assert bare.results[0].text is None


def test_async_simulated_noisy(simulator) -> None:
    exa = AsyncExa(api_key="k", api_base=f"{simulator.base_url}/exa")
    found = asyncio.run(exa.search("who built the great wall", num_results=3, extra_body={"quality": "noisy", "seed": 5}))
    assert len(found.results) == 3 and all(r.title.strip() and r.text.strip() for r in found.results)


def test_bad_key(keyed_simulator) -> None:
    with pytest.raises(ValueError, match=r'status code 401: .*"tag":"INVALID_API_KEY"'):
        Exa(api_key="wrong", base_url=f"{keyed_simulator.base_url}/exa").search("hamlet")
