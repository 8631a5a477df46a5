"""The search path without a live server: seeds, rendering, backends, failures and the bound."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from serpsim_protocol import RetrieveResponse, SearchResponse
from serpsim_trainer.search import (
    SearchBackendConfig,
    SearchContext,
    Searcher,
    derive_seed,
    load_search_settings,
    render_retrieve,
    render_serpapi,
)
from serpsim_trainer.tags import NO_INFORMATION, cut_token_ids, parse_action

from .conftest import CONFIGS, answering_backends

CTX = SearchContext(step=50, split="train", uid="nq-train-3", rollout=1, turn=2, question="q?", answer="a")


def test_seed_is_stable_and_distinct() -> None:
    """A run replays only if a call's seed is the same in every process and every release: pinned
    values, and the same values from a process with another hash salt (Python's `hash()` would differ)."""
    assert derive_seed(0, 5, "u", 0, 0) == 1159341435
    assert derive_seed(7, 1, "tiny-train-3", 1, 0) == 1916662955
    code = "from serpsim_trainer.search import derive_seed; print(derive_seed(7, 1, 'tiny-train-3', 1, 0))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == "1916662955"
    seeds = {derive_seed(0, 5, "u", r, t) for r in range(5) for t in range(5)}
    assert len(seeds) == 25 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(1, 5, "u", 0, 0) != derive_seed(0, 5, "u", 0, 0)


def test_simulated_results_render_as_the_documents_alone() -> None:
    """What ZeroSearch showed the policy: `Doc k: <document>` for simulated results (a response with a
    `simulation` block), whatever their titles; real SerpApi results keep title and snippet."""
    results = [{"position": 1, "title": "Eiffel Tower facts", "link": "l", "snippet": "The tower is in Paris."},
               {"position": 2, "title": "The tower is", "link": "l", "snippet": "The tower is 330 m tall."}]
    simulated = SearchResponse.model_validate({"search_metadata": {"id": "x"}, "organic_results": results,
                                               "simulation": {"quality": "noisy", "model": "m"}})
    real = SearchResponse.model_validate({"search_metadata": {"id": "x"}, "organic_results": results})
    assert render_serpapi(simulated, 5) == ["The tower is in Paris.", "The tower is 330 m tall."]
    assert render_serpapi(real, 5) == ["Eiffel Tower facts: The tower is in Paris.", "The tower is: The tower is 330 m tall."]


def test_render_rules() -> None:
    real = SearchResponse.model_validate({"search_metadata": {"id": "x"}, "organic_results": [
        {"position": 1, "title": "Paris - Wikipedia", "link": "l", "snippet": "Capital of France."},
        {"position": 2, "title": "Only a title", "link": "l", "snippet": ""},
        {"position": 3, "title": "", "link": "l", "snippet": "Only a snippet."},
    ]})
    assert render_serpapi(real, 5) == ["Paris - Wikipedia: Capital of France.", "Only a title", "Only a snippet."]
    assert render_serpapi(real, 1) == ["Paris - Wikipedia: Capital of France."]
    rr = RetrieveResponse.model_validate({"result": [[
        {"document": {"id": "1", "contents": '"Paris"\nParis is the capital.'}, "score": 1.0},
        {"document": {"id": "2", "contents": "Lyon\nA city in France."}, "score": 0.5},
    ]]})
    assert render_retrieve(rr, 5) == ["Paris is the capital.", "Lyon: A city in France."]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_simulator_call_parameters_and_trace(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"search_metadata": {"id": "sid"}, "simulation": {"quality": "useful"},
                                         "organic_results": [{"position": 1, "title": "T", "link": "l",
                                                              "snippet": "T body"}]})

    cfg = SearchBackendConfig(url="http://sim", trace_path=str(tmp_path / "t.jsonl"), seed=3)
    searcher = Searcher(cfg, transport=httpx.MockTransport(answering_backends(handler)))
    out = run(searcher.search("who", CTX))
    assert out.ok and out.text == "Doc 1: T body" and out.search_id == "sid"
    p = seen[0]
    assert (p["q"], p["question"], p["answer"], p["num"]) == ("who", "q?", "a", "5")
    assert int(p["seed"]) == derive_seed(3, 50, "nq-train-3", 1, 2) and p["quality"] == out.quality
    rec = json.loads((tmp_path / "t.jsonl").read_text())
    assert rec["uid"] == "nq-train-3" and rec["rollout"] == 1 and rec["turn"] == 2 and rec["ok"] is True
    # Validation: no hints and no noise, whatever the config says.
    run(searcher.search("who", SearchContext(step=50, split="test", question="q?", answer="a")))
    assert "answer" not in seen[1] and "question" not in seen[1] and seen[1]["quality"] == "useful"


def test_retrieve_backend_sends_per_query_fields() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"result": [[{"document": {"id": "1", "contents": "T\nbody"}, "score": 1}]]})

    searcher = Searcher(SearchBackendConfig(kind="retrieve", url="http://r", topk=3),
                        transport=httpx.MockTransport(handler))
    out = run(searcher.search("who", CTX))
    assert out.text == "Doc 1: T: body"
    assert bodies[0]["queries"] == ["who"] and bodies[0]["topk"] == 3 and bodies[0]["answer"] == "a"


def test_serpapi_needs_key_and_never_gets_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="SERPAPI_API_KEY"):
        Searcher(SearchBackendConfig(kind="serpapi"))
    monkeypatch.setenv("SERPAPI_API_KEY", "k")
    cfg = SearchBackendConfig(kind="serpapi")
    assert cfg.base_url == "https://serpapi.com" and not cfg.send_hints and not cfg.use_curriculum
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"search_metadata": {"id": "x"}, "organic_results": []})

    out = run(Searcher(cfg, transport=httpx.MockTransport(handler)).search("who", CTX))
    assert out.ok and out.text == NO_INFORMATION and out.n_docs == 0
    assert seen[0]["api_key"] == "k" and not {"quality", "question", "answer", "seed"} & set(seen[0])


def test_a_failed_search_is_reported_never_raised(tmp_path: Path) -> None:
    """A backend failure gives ZeroSearch's observation, the error in the outcome and the trace; the
    per-step bound is the trainer's (failure_bound), so a search never raises."""
    cfg = SearchBackendConfig(url="http://sim", max_retries=1, trace_path=str(tmp_path / "t.jsonl"))
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"error": "down"})

    searcher = Searcher(cfg, transport=httpx.MockTransport(answering_backends(handler)))
    outs = [run(searcher.search("who", CTX)) for _ in range(3)]
    assert all(not o.ok and o.text == NO_INFORMATION and "503" in (o.error or "") and o.documents == [] for o in outs)
    assert len(calls) == 6  # one retry each, bounded
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [(r["ok"], "503" in r["error"]) for r in lines] == [(False, True)] * 3


def test_shipped_tool_config_parses() -> None:
    settings = load_search_settings(CONFIGS / "search_tool.yaml")
    assert settings.topk == 5 and settings.agent.max_turns == 5 and settings.curriculum.end == 0.5


def test_parse_and_cut() -> None:
    assert parse_action("<think>x</think><search> a b </search><answer>c</answer>").content == "a b"
    assert parse_action("<answer>c</answer>").kind == "answer"
    assert parse_action("<search>unterminated").kind == "invalid"
    assert parse_action("<think>x</think>\n<search> \n </search>").kind == "invalid"  # nothing to search
    assert parse_action("<answer></answer>").kind == "answer"  # an empty answer is an answer (it scores 0)
    pieces = ["<sea", "rch>q</se", "arch>", "tail", "<answer>x</answer>"]
    ids = list(range(len(pieces)))
    assert cut_token_ids(ids, lambda xs: "".join(pieces[i] for i in xs)) == [0, 1, 2]
    assert cut_token_ids([3], lambda xs: "".join(pieces[i] for i in xs)) == [3]


def test_trace_lines_carry_their_launch_and_documents(tmp_path: Path) -> None:
    """Issue 8 item 4: every trace line names the launch that wrote it (a relaunch of the same run
    directory writes a new tag) and holds the documents the policy saw, with a digest of that text."""
    from serpsim_trainer.rl import plan_run, write_run_files

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params["q"]
        return httpx.Response(200, json={"search_metadata": {"id": "sid"}, "simulation": {"quality": "useful"},
                                         "organic_results": [{"position": k, "title": f"T{k}", "link": "l",
                                                              "snippet": f"{q} body {k}"} for k in (1, 2)]})

    outcomes = []
    for query in ("first launch", "second launch"):
        plan = plan_run("grpo", [f"serpsim.run_dir={tmp_path}", "serpsim.search.kind=simulator"])
        write_run_files(plan)
        searcher = Searcher(load_search_settings(plan.tool_config_path),
                            transport=httpx.MockTransport(answering_backends(handler)))
        outcomes.append(run(searcher.search(query, CTX)))
    records = [json.loads(line) for line in (tmp_path / "search_trace.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[0]["launch"] and records[1]["launch"]
    assert records[0]["launch"] != records[1]["launch"]
    for record, outcome in zip(records, outcomes, strict=True):
        assert record["documents"] == [f"{record['query']} body 1", f"{record['query']} body 2"]
        assert outcome.text == f"Doc 1: {record['query']} body 1\nDoc 2: {record['query']} body 2"
        assert record["digest"] == hashlib.sha256(outcome.text.encode()).hexdigest()
