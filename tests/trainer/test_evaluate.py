"""`eval` / `ask`: the same tag protocol against an OpenAI-compatible policy and any backend."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request  # module level: FastAPI resolves the string annotations here
from serpsim_trainer.commands import ask as ask_cmd
from serpsim_trainer.commands import eval as eval_cmd
from serpsim_trainer.data import prepare
from serpsim_trainer.evaluate import OpenAIPolicy, evaluate_sets, markdown_table, run_episode, summary
from serpsim_trainer.search import SearchBackendConfig, Searcher
from serpsim_trainer.tags import INVALID_ACTION_MESSAGE

from .conftest import write_tool_config


def policy_reply(prompt: str) -> str:
    """A scripted policy that, like vLLM by default, leaves the stop string out of its text."""
    if "\n\n<information>" not in prompt:  # the instruction itself names the tag
        return "<think>I should look it up.</think>\n<search>capital of france"
    if INVALID_ACTION_MESSAGE not in prompt:
        return "<think>not sure</think>"
    return "<answer> Paris"


def policy_handler(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert body["stop"] == ["</search>", "</answer>"]
    return httpx.Response(200, json={"choices": [{"text": policy_reply(body["prompt"]), "finish_reason": "stop"}]})


def serpapi_handler(request: httpx.Request) -> httpx.Response:
    params = dict(request.url.params)
    # Evaluation never sends the gold answer, the question, or noise.
    assert "answer" not in params and "question" not in params and params.get("quality") == "useful"
    results = [{"position": k, "title": f"Doc title {k}", "link": f"https://e.x/{k}", "snippet": f"Paris fact {k}."}
               for k in range(1, 6)]
    return httpx.Response(200, json={"search_metadata": {"id": "s1"}, "organic_results": results})


def test_episode_and_report() -> None:
    async def main() -> Any:
        policy = OpenAIPolicy("http://policy", "m", transport=httpx.MockTransport(policy_handler))
        searcher = Searcher(SearchBackendConfig(kind="simulator", url="http://sim"),
                            transport=httpx.MockTransport(serpapi_handler))
        ep = await run_episode(policy, searcher, "capital of france", answers=["Paris"])
        rows = [{"extra_info": {"question": "capital of france?", "uid": f"nq-test-{i}"},
                 "reward_model": {"ground_truth": {"target": ["Paris"]}}} for i in range(3)]
        results = await evaluate_sets(policy, searcher, {"nq": rows, "popqa": rows[:1]}, progress=False)
        await policy.aclose()
        await searcher.aclose()
        return ep, results

    ep, results = asyncio.run(main())
    assert [t.action for t in ep.turns] == ["search", "invalid", "answer"]
    assert ep.turns[0].text.endswith("</search>") and ep.prediction == "Paris"
    assert "Doc 1: Doc title 1: Paris fact 1." in ep.trajectory and "Doc 5:" in ep.trajectory
    assert ep.scores == {"f1": 1.0, "em": 1.0, "cover_em": 1.0} and ep.searches == 1
    s = summary(results)
    assert s["sets"]["nq"]["n"] == 3 and s["average"]["em"] == 1.0 and s["average"]["searches_per_question"] == 1.0
    assert "| **average** | 4 | 100.00 |" in markdown_table(results)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def policy_server() -> Iterator[str]:
    """A fake OpenAI-compatible server over real HTTP (uvicorn in a thread)."""
    import uvicorn

    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"choices": [{"text": policy_reply(body["prompt"]), "finish_reason": "stop"}]}

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def cli(module: Any, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.mark.heavy
def test_eval_and_ask_cli_against_live_simulator(
    policy_server: str, live_simulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    (src / "nq").mkdir(parents=True)
    (src / "nq" / "test.jsonl").write_text(
        "".join(json.dumps({"question": f"capital of france {i}", "golden_answers": ["Paris"]}) + "\n" for i in range(5))
    )
    (src / "bamboogle.jsonl").write_text(json.dumps({"question": "q", "golden_answers": ["Lyon"]}) + "\n")
    prepare(tmp_path / "data", train=[], eval_sets=["nq", "bamboogle"], source_dir=src)
    backend = write_tool_config(tmp_path / "backend.yaml", url=live_simulator, trace_path=str(tmp_path / "t.jsonl"))
    out = tmp_path / "eval"
    rc = cli(eval_cmd, ["eval", "--policy-url", policy_server, "--model", "tiny", "--backend-config", str(backend),
                        "--data", str(tmp_path / "data"), "--sets", "nq,bamboogle", "--sample", "3",
                        "--out", str(out), "--no-progress"])
    assert rc == 0
    report = json.loads((out / "results.json").read_text())
    assert report["sets"]["nq"]["n"] == 3 and report["sets"]["nq"]["em"] == 1.0
    assert report["sets"]["bamboogle"]["f1"] == 0.0
    assert report["average"]["searches_per_question"] == 1.0
    assert (out / "results.md").read_text().startswith("| set | n | EM |")
    trace = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(trace) == 4 and all(r["answer"] is None and r["quality"] == "useful" for r in trace)
    capsys.readouterr()

    rc = cli(ask_cmd, ["ask", "capital of france", "--policy-url", policy_server, "--model", "tiny",
                       "--backend-config", str(backend), "--answer", "Paris"])
    assert rc == 0
    shown = capsys.readouterr().out
    assert "--- search: 'capital of france' (ok) ---" in shown and "Doc 1: " in shown
    assert "answer: Paris" in shown and "em=1.000" in shown


@pytest.mark.heavy
def test_local_policy_episode_terminates(tiny_model_dir: Path) -> None:
    """`ask --model-path`: a local model through the same episode function (the tiny simulation
    model writes no tags, so every turn is invalid until the final one)."""
    from serpsim_trainer.evaluate import LocalPolicy
    from serpsim_trainer.search import AgentSettings

    policy = LocalPolicy(str(tiny_model_dir), max_tokens=12, device="cpu")
    searcher = Searcher(SearchBackendConfig(url="http://127.0.0.1:9", max_retries=0, timeout_s=2))
    ep = asyncio.run(run_episode(policy, searcher, "capital of france", answers=["Paris"],
                                 agent=AgentSettings(max_turns=2)))
    assert 1 <= len(ep.turns) <= 3 and ep.trajectory.startswith(ep.turns[0].text)
    assert set(ep.scores) == {"f1", "em", "cover_em"}
