"""The fact corpus through the service: retrieval quality, shapes, Search-R1's forms, the rules of
real search, and the cache, accounts and archive working for a corpus as for the simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serpsim_protocol import RetrieveResponse, SearchResponse
from serpsim_simulator.app import create_app
from serpsim_simulator.backends.corpus.build import BuildOptions, build_index
from serpsim_simulator.backends.corpus.index import LINK_BASE

from ..conftest import _wait_ready, make_settings
from ..facts import Fact, write_jsonl
from .conftest import MODES, RealSearch

SIMULATION_ONLY = {"quality": "noisy", "noise_ratio": 0.5, "noise_count": 2, "question": "Q?", "answer": "A"}


def _ids(organic: list[dict[str, Any]]) -> list[str]:
    return [o["link"].removeprefix(LINK_BASE) for o in organic]


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_finds_the_fact_through_search_and_retrieve(
    real_search: RealSearch, questions: list[Fact], fact_corpus: tuple[list[dict[str, str]], list[Fact]], mode: str
) -> None:
    c = real_search.client
    body = {"queries": [q.question for q in questions], "topk": 3, "backend": mode, "return_scores": True}
    r = c.post("/retrieve", json=body)
    assert r.status_code == 200
    batches = RetrieveResponse.model_validate(r.json()).result
    by_retrieve = [[hit.document.id for hit in hits] for hits in batches]
    found = sum(q.doc_id in ids for q, ids in zip(questions, by_retrieve))
    assert found >= 90, f"{mode} via /retrieve: the fact's passage in the top 3 for {found}/100 questions"

    by_search = []
    for q in questions:
        organic = c.get("/search.json", params={"q": q.question, "num": 3, "backend": mode}).json()["organic_results"]
        by_search.append(_ids(organic))
    found = sum(q.doc_id in ids for q, ids in zip(questions, by_search))
    assert found >= 90, f"{mode} via /search: the fact's passage in the top 3 for {found}/100 questions"
    assert by_search == by_retrieve  # one search path under both shapes

    # Titles, texts and ids come from the corpus unmodified; scores are the retriever's, best first.
    rows = {p["id"]: p for p in fact_corpus[0]}
    for hits in batches[:20]:
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
        for hit in hits:
            assert hit.document.contents == f'"{rows[hit.document.id]["title"]}"\n{rows[hit.document.id]["text"]}'


def passages2string(retrieval_result: list[dict[str, Any]]) -> str:
    """Search-R1's `search_r1/llm_agent/generation.py` `_passages2string`, verbatim in behaviour."""
    format_reference = ""
    for idx, doc_item in enumerate(retrieval_result):
        content = doc_item["document"]["contents"]
        title = content.split("\n")[0]
        text = "\n".join(content.split("\n")[1:])
        format_reference += f"Doc {idx + 1}(Title: {title}) {text}\n"
    return format_reference


def _shape(node: Any) -> Any:
    """The keys of a JSON value, recursively (lists by their first item), without the values."""
    if isinstance(node, dict):
        return {key: _shape(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_shape(node[0])] if node else []
    return type(node).__name__


def test_search_and_retrieve_shapes_match_the_simulated_ones(real_search: RealSearch) -> None:
    c = real_search.client
    shapes = {}
    for backend in ("simulated", "bm25", "dense", "hybrid", "google"):
        r = c.get("/search.json", params={"q": "capital city government", "num": 3, "backend": backend})
        assert r.status_code == 200
        body = r.json()
        SearchResponse.model_validate(body)
        block = "simulation" if backend == "simulated" else "backend"
        assert block in body and ({"simulation", "backend"} - {block}).isdisjoint(body)
        own = body.pop(block)
        body["search_parameters"].pop("backend")
        shapes[backend] = _shape(body)
        if backend != "simulated":
            assert own["name"] == backend and own["kind"] == ("serpapi" if backend == "google" else "corpus")
    assert all(shape == shapes["simulated"] for shape in shapes.values()), shapes
    for scores in (False, True):
        items = {}
        for backend in ("simulated", "bm25", "google"):
            r = c.post("/retrieve", json={"queries": ["capital city"], "topk": 3, "backend": backend,
                                          "return_scores": scores})
            RetrieveResponse.model_validate(r.json())
            items[backend] = _shape(r.json())
        assert items["bm25"] == items["simulated"] == items["google"]


def test_search_r1_request_and_response_forms_round_trip(
    tmp_path: Path, fact_corpus: tuple[list[dict[str, str]], list[Fact]], questions: list[Fact]
) -> None:
    """Search-R1's wiki-18 rows (`{id, contents}`) in, and Search-R1's own client request
    (`queries`, `topk`, `return_scores`, nothing of ours) answered with those very rows."""
    source = write_jsonl(tmp_path / "wiki.jsonl", fact_corpus[0], form="contents")
    build_index(source, tmp_path / "idx", BuildOptions(bm25=True), progress=False)
    lines = {p["id"]: f'"{p["title"]}"\n{p["text"]}' for p in fact_corpus[0]}
    settings = make_settings(backends=[{"kind": "corpus", "name": "wiki", "index": str(tmp_path / "idx")}])
    with TestClient(create_app(settings)) as c:  # a corpus alone: no engine, no model
        _wait_ready(c)
        asked = [q.question for q in questions]
        scored = c.post("/retrieve", json={"queries": asked, "topk": 3, "return_scores": True}).json()
        assert set(scored) == {"result"} and len(scored["result"]) == 100
        for items in scored["result"]:
            for item in items:
                assert set(item) == {"document", "score"} and set(item["document"]) == {"id", "contents"}
                assert item["document"]["contents"] == lines[item["document"]["id"]]
        bare = c.post("/retrieve", json={"queries": asked[:5], "topk": 3}).json()
        assert [[set(i) for i in items] for items in bare["result"]] == [[{"id", "contents"}] * 3] * 5
        assert [i["id"] for i in bare["result"][0]] == [i["document"]["id"] for i in scored["result"][0]]
        # What Search-R1's agent shows its policy (`_passages2string`), from the rows it was sent.
        rows = {p["id"]: p for p in fact_corpus[0]}
        expected = "".join(
            f'Doc {i}(Title: "{rows[item["document"]["id"]]["title"]}") {rows[item["document"]["id"]]["text"]}\n'
            for i, item in enumerate(scored["result"][0], start=1)
        )
        assert passages2string(scored["result"][0]) == expected
        found = sum(q.doc_id in [i["document"]["id"] for i in items] for q, items in zip(questions, scored["result"]))
        assert found >= 90
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready" and "engine" not in ready
        assert [(b["name"], b["kind"]) for b in ready["backends"]] == [("wiki", "corpus")]


@pytest.mark.parametrize("backend", ["bm25", "google"])
def test_real_backends_refuse_simulation_parameters(real_search: RealSearch, backend: str) -> None:
    c, engine, upstream = real_search.client, real_search.engine, real_search.upstream
    engine_calls, upstream_calls = len(engine.calls), len(upstream.requests)
    for name, value in SIMULATION_ONLY.items():
        r = c.get("/search.json", params={"q": "capital", "backend": backend, name: value})
        assert r.status_code == 400 and f"takes no `{name}`" in r.json()["error"], r.json()
        assert "real search" in r.json()["error"]
        r = c.post("/retrieve", json={"queries": ["capital"], "backend": backend, name: value})
        assert r.status_code == 400 and f"`{name}`" in r.json()["detail"]
    for name in ("quality", "question", "answer"):  # per query, too
        r = c.post("/retrieve", json={"queries": ["a", {"query": "b", name: SIMULATION_ONLY[name]}], "backend": backend})
        assert r.status_code == 400 and f"`{name}`" in r.json()["detail"]
    r = c.get("/search.json", params={"q": "capital", "backend": backend, "quality": "useful", "answer": "A"})
    assert "takes no `quality` and `answer`" in r.json()["error"]
    assert (len(engine.calls), len(upstream.requests)) == (engine_calls, upstream_calls)  # refused before any work
    # A seed is the simulation's too, but harmless: real search ignores it.
    assert c.get("/search.json", params={"q": "capital", "backend": backend, "seed": 3}).status_code == 200


def test_unknown_backend_is_a_400_listing_the_known_ones(real_search: RealSearch) -> None:
    c = real_search.client
    r = c.get("/search.json", params={"q": "x", "backend": "wiki"})
    assert r.status_code == 400
    assert r.json()["error"] == (
        "Invalid `backend` parameter: Input should be 'simulated', 'bm25', 'dense', 'hybrid' or 'google'."
    )
    r = c.post("/retrieve", json={"queries": ["x"], "backend": "wiki"})
    assert r.status_code == 400 and "'simulated', 'bm25', 'dense', 'hybrid' or 'google'" in r.json()["detail"]


def _metric(c: TestClient, series: str) -> float:
    lines = [line for line in c.get("/metrics").text.splitlines() if line.startswith(series + " ")]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_cache_accounts_and_archive_work_for_a_corpus(real_search: RealSearch) -> None:
    c = real_search.client
    counted = _metric(c, 'serpsim_searches_total{backend="hybrid",quality="none"}')
    params = {"q": "Which river is the longest?", "num": 4, "backend": "hybrid", "api_key": "corpus-account"}
    first = c.get("/search.json", params=params).json()
    second = c.get("/search.json", params=params).json()
    assert first["backend"]["cached"] is False and "cached" not in first["search_metadata"]
    assert second["backend"]["cached"] is True and second["search_metadata"]["cached"] is True
    assert second["organic_results"] == first["organic_results"]
    fresh = c.get("/search.json", params={**params, "no_cache": "true"}).json()
    assert fresh["backend"]["cached"] is False and fresh["organic_results"] == first["organic_results"]
    c.post("/retrieve", json={"queries": ["a", "b"], "backend": "bm25"}, headers={"X-API-KEY": "corpus-account"})
    account = c.get("/account.json", params={"api_key": "corpus-account"}).json()
    assert (account["total_searches"], account["cache_hits"], account["generations"]) == (5, 1, 0)
    assert account["prompt_tokens"] == 0 and account["engine_seconds"] == 0
    archived = c.get(f"/searches/{first['search_metadata']['id']}.json")
    assert archived.status_code == 200 and archived.json() == first
    assert _metric(c, 'serpsim_searches_total{backend="hybrid",quality="none"}') == counted + 3


def test_pages_continue_the_corpus_ranking(real_search: RealSearch) -> None:
    c = real_search.client
    q = {"q": "What is the national dish?", "backend": "bm25"}
    whole = c.get("/search.json", params={**q, "num": 6}).json()["organic_results"]
    pages = [c.get("/search.json", params={**q, "num": 3, "start": s}).json()["organic_results"] for s in (0, 3)]
    assert [o["link"] for p in pages for o in p] == [o["link"] for o in whole]
    assert [o["position"] for p in pages for o in p] == list(range(1, 7))
    assert pages[0][0]["displayed_link"] == "https://corpus.serpsim.example › doc › " + _ids(pages[0])[0]
    assert pages[0][0]["source"] == "bm25"


def test_readyz_and_backends_list_every_backend(real_search: RealSearch) -> None:
    c = real_search.client
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["engine"] == "fake"
    listed = c.get("/backends").json()["backends"]
    assert [(b["name"], b["kind"], b["default"], b["status"]) for b in listed] == [
        ("simulated", "simulated", True, "ready"), ("bm25", "corpus", False, "ready"),
        ("dense", "corpus", False, "ready"), ("hybrid", "corpus", False, "ready"), ("google", "serpapi", False, "ready"),
    ]
    assert ready.json()["backends"] == listed
