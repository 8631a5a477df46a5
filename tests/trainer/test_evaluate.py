"""`eval` / `ask`: the same tag protocol against an OpenAI-compatible policy and any backend."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request  # module level: FastAPI resolves the string annotations here
from serpsim_trainer.commands import ask as ask_cmd
from serpsim_trainer.commands import eval as eval_cmd
from serpsim_trainer.data import prepare
from serpsim_trainer.evaluate import OpenAIPolicy, SetResult, evaluate_sets, markdown_table, run_episode, summary
from serpsim_trainer.search import SearchBackendConfig, Searcher
from serpsim_trainer.tags import INVALID_ACTION_MESSAGE, instruction_for

from .conftest import answering_backends, serve_app, write_tool_config


def serpapi_handler(request: httpx.Request) -> httpx.Response:
    params = dict(request.url.params)
    # Evaluation never sends the gold answer, the question, or noise.
    assert "answer" not in params and "question" not in params and params.get("quality") == "useful"
    results = [{"position": k, "title": f"Doc title {k}", "link": f"https://e.x/{k}", "snippet": f"Paris fact {k}."}
               for k in range(1, 6)]
    return httpx.Response(200, json={"search_metadata": {"id": "s1"}, "organic_results": results})


CAPITAL_SCRIPT = {"capital of france": [
    "<think>I should look it up.</think>\n<search>capital of france</search>",
    "<think>not sure</think>",
    "<answer> Paris </answer>",
]}


def test_episode_and_report(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))

    def policy_handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["stop"] == ["</search>", "</answer>"] and isinstance(body["prompt"], list)
        prompt = tokenizer.decode(body["prompt"])
        turn = prompt.count("\n\n<information>") + prompt.count(INVALID_ACTION_MESSAGE)
        # Like vLLM without include_stop_str_in_output: the stop string is left out.
        text = CAPITAL_SCRIPT["capital of france"][turn].removesuffix("</search>").removesuffix("</answer>")
        return httpx.Response(200, json={"choices": [{"text": text, "finish_reason": "stop"}]})

    async def main() -> Any:
        policy = OpenAIPolicy("http://policy", "m", tokenizer, transport=httpx.MockTransport(policy_handler))
        searcher = Searcher(SearchBackendConfig(kind="simulator", url="http://sim"),
                            transport=httpx.MockTransport(answering_backends(serpapi_handler)))
        ep = await run_episode(policy, searcher, "capital of france", answers=["Paris"])
        rows = [{"extra_info": {"question": "capital of france?", "uid": f"nq-test-{i}"},
                 "reward_model": {"ground_truth": {"target": ["Paris"]}}} for i in range(3)]
        results = await evaluate_sets(policy, searcher, {"nq": rows, "popqa": rows[:1]}, progress=False)
        await policy.aclose()
        await searcher.aclose()
        return ep, results

    ep, results = asyncio.run(main())
    assert [t["action"] for t in ep.turns] == ["search", "invalid", "answer"]
    assert ep.turns[0]["text"].endswith("</search>") and ep.prediction == "Paris"
    # A response without serpsim's `simulation` block is real SerpApi: title and snippet.
    assert "Doc 1: Doc title 1: Paris fact 1." in ep.trajectory and "Doc 5:" in ep.trajectory
    assert ep.scores == {"f1": 1.0, "em": 1.0, "cover_em": 1.0} and ep.searches == 1
    assert ep.policy_text == "".join(t["text"] for t in ep.turns) and "Doc 1" not in ep.policy_text
    s = summary(results)
    assert s["sets"]["nq"]["n"] == 3 and s["average"]["em"] == 1.0 and s["average"]["searches_per_question"] == 1.0
    assert "| **average** | 4 | 100.00 |" in markdown_table(results)


def cli(module: Any, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.mark.heavy
def test_eval_and_ask_cli_against_live_simulator(
    live_simulator: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulator as the evaluation backend: never a hint or injected noise; every row scored."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    src = tmp_path / "src"
    (src / "nq").mkdir(parents=True)
    (src / "nq" / "test.jsonl").write_text(
        "".join(json.dumps({"question": f"capital of france {i}", "golden_answers": ["Paris"]}) + "\n" for i in range(5))
    )
    (src / "bamboogle.jsonl").write_text(json.dumps({"question": "q", "golden_answers": ["Lyon"]}) + "\n")
    prepare(tmp_path / "data", train=[], eval_sets=["nq", "bamboogle"], source_dir=src)
    backend = write_tool_config(tmp_path / "backend.yaml", url=live_simulator, trace_path=str(tmp_path / "t.jsonl"))
    out = tmp_path / "eval"
    scripts = {**CAPITAL_SCRIPT, "Question: q?": ["<answer> Paris </answer>"]}
    with serve_app(scripted_policy_app(tokenizer, scripts, [])) as policy_url:
        rc = cli(eval_cmd, ["eval", "--policy-url", policy_url, "--model", "tiny", "--tokenizer", str(tiny_model_dir),
                            "--backend-config", str(backend), "--data", str(tmp_path / "data"), "--sets",
                            "nq,bamboogle", "--sample", "3", "--out", str(out), "--no-progress"])
        assert rc == 0
        report = json.loads((out / "results.json").read_text())
        assert report["sets"]["nq"]["n"] == 3 and report["sets"]["nq"]["em"] == 1.0
        assert report["sets"]["bamboogle"]["f1"] == 0.0
        assert report["average"]["searches_per_question"] == 0.5  # nq 1.0, bamboogle 0.0: the mean over sets
        trace = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
        assert len(trace) == 3 and all(r["answer"] is None and r["quality"] == "useful" for r in trace)
        for r in trace:
            echo = httpx.get(f"{live_simulator}/searches/{r['search_id']}.json", timeout=10).json()
            assert not echo["search_parameters"].get("answer") and echo["search_parameters"]["quality"] == "useful"
        capsys.readouterr()

        rc = cli(ask_cmd, ["ask", "capital of france", "--policy-url", policy_url, "--model", "tiny", "--tokenizer",
                           str(tiny_model_dir), "--backend-config", str(backend), "--answer", "Paris"])
    assert rc == 0
    shown = capsys.readouterr().out
    assert "--- search: 'capital of france' (ok) ---" in shown and "Doc 1: " in shown
    assert "answer: Paris" in shown and "em=1.000" in shown


@pytest.mark.heavy
def test_ask_with_a_local_model_runs_the_protocol(
    tiny_policy_dir: Path, fake_serpapi: tuple[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ask --model-path`: a local model through the same protocol. The tiny policy was taught to search
    for the question itself, then to answer after the documents."""
    from serpsim_trainer.evaluate import LocalPolicy
    from serpsim_trainer.search import AgentSettings
    from serpsim_trainer.tiny_policy import ANSWERS, tiny_questions

    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    url, requests = fake_serpapi
    question = tiny_questions(1, seed=3)[0].question
    policy = LocalPolicy(str(tiny_policy_dir), device="cpu")
    searcher = Searcher(SearchBackendConfig(kind="serpapi", url=url, api_key_env="SERPAPI_API_KEY", max_retries=0))
    ep = asyncio.run(run_episode(policy, searcher, question, answers=[ANSWERS[0]],
                                 agent=AgentSettings(max_turns=2, max_tokens_per_turn=48)))
    # Rendered as in training, generated greedily, cut at the closing tag: the first turn is the search.
    assert ep.turns[0]["action"] == "search" and ep.turns[0]["text"].endswith("</search>")
    assert requests[0]["q"] == ep.turns[0]["content"] and ep.turns[0]["content"].startswith(("where", "in which", "which"))
    # A tiny model's later turns are less steady (the fake's documents are unlike its training
    # documents); within the turn limit it writes an answer, which is scored.
    assert ep.turns[-1]["action"] == "answer" and ep.prediction and "Doc 1: " in ep.trajectory
    assert ep.scores["cover_em"] == float(ANSWERS[0].lower() in ep.prediction.lower())


ROMEO = "which shakespeare play is set in verona"


def scripted_policy_app(tokenizer: Any, scripts: dict[str, list[str]], prompts: list[str]) -> FastAPI:
    """A scripted OpenAI-compatible completions server (the standards' named double). The prompt may be
    text or token ids (decoded with the policy's tokenizer and recorded). The script is chosen by the
    question in the prompt and indexed by how many observations the context already holds; like a
    server honouring `stop`, the text ends at the first closing tag (kept with include_stop_str_in_output)."""
    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict[str, Any]:
        body = await request.json()
        prompt = body["prompt"] if isinstance(body["prompt"], str) else tokenizer.decode(body["prompt"])
        prompts.append(prompt)
        script = next(s for key, s in scripts.items() if key in prompt)
        turn = prompt.count("\n\n<information>") + prompt.count(INVALID_ACTION_MESSAGE)
        text = script[min(turn, len(script) - 1)]
        for tag in body.get("stop") or []:
            if tag in text:
                text = text[: text.index(tag) + len(tag) * bool(body.get("include_stop_str_in_output"))]
        return {"choices": [{"text": text, "finish_reason": "stop"}]}

    return app


def backend_file(path: Path, url: str, **agent: Any) -> Path:
    return write_tool_config(path, kind="serpapi", url=url, api_key_env="SERPAPI_API_KEY", trace_path=None,
                             agent=agent)


def test_eval_runs_the_training_turn_protocol(
    tiny_model_dir: Path, fake_serpapi: tuple[str, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 items 10 and 11: `serpsim-train eval` renders the prompt with the tokenizer's own chat
    template, applies the observation cap in tokens, and produces exactly the trajectory verl's agent
    loop produces for the same policy and documents; its terminal shows no per-request log lines."""
    from transformers import AutoTokenizer

    from .test_agent_loop import ScriptedServer, build_loop, trainer_config

    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    url, _ = fake_serpapi
    scripts = {"capital of france": [
        "<think>look it up</think>\n<search>capital of france</search>",
        "<think>hmm</think> not sure",
        "<think>the documents say so</think>\n<answer> Paris </answer>",
    ]}
    backend = backend_file(tmp_path / "backend.yaml", url, max_turns=2, max_obs_tokens=24)
    src = tmp_path / "src"
    (src / "nq").mkdir(parents=True)
    (src / "nq" / "test.jsonl").write_text(json.dumps({"question": "what is the capital of france",
                                                       "golden_answers": ["Paris"]}) + "\n")
    prepare(tmp_path / "data", train=[], eval_sets=["nq"], source_dir=src)
    prompts: list[str] = []
    with serve_app(scripted_policy_app(tokenizer, scripts, prompts)) as policy_url:
        proc = subprocess.run(
            [sys.executable, "-m", "serpsim_trainer.cli", "eval", "--policy-url", policy_url, "--model", "tiny",
             "--tokenizer", str(tiny_model_dir), "--backend-config", str(backend), "--data", str(tmp_path / "data"),
             "--sets", "nq", "--out", str(tmp_path / "eval"), "--no-progress"],
            capture_output=True, text=True, timeout=300, check=False,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HTTP Request" not in proc.stderr and "httpx" not in proc.stderr
    instruction = instruction_for("what is the capital of france")
    assert prompts[0] == tokenizer.apply_chat_template([{"role": "user", "content": instruction}],
                                                       add_generation_prompt=True, tokenize=False)
    (episode,) = [json.loads(line) for line in (tmp_path / "eval" / "predictions_nq.jsonl").read_text().splitlines()]

    # The same policy through verl's agent loop, with the same search settings.
    server = ScriptedServer(tokenizer, {k: [t.replace("</search>", "</search>junk") for t in v] for k, v in scripts.items()})

    async def main() -> Any:
        loop = await build_loop(trainer_config(backend), server, tokenizer)
        return await loop.run({}, raw_prompt=[{"role": "user", "content": instruction}], data_source="nq",
                              reward_model={"ground_truth": {"target": ["Paris"]}},
                              extra_info={"split": "test", "uid": "nq-test-0", "question": "x"},
                              global_steps=0, session_id=0)

    out = asyncio.run(main())
    assert episode["trajectory"] == tokenizer.decode(out.response_ids, skip_special_tokens=True)
    information = episode["trajectory"].split("</search>", 1)[1].split("</information>", 1)[0] + "</information>"
    assert len(tokenizer.encode(information, add_special_tokens=False)) <= 24
    assert episode["scores"] == {"f1": 1.0, "em": 1.0, "cover_em": 1.0}


def test_eval_respects_the_trajectory_budget(
    tiny_model_dir: Path, fake_serpapi: tuple[str, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 10: the trajectory's token budget (verl's response length) holds in `eval` too."""
    from transformers import AutoTokenizer

    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    url, _ = fake_serpapi
    scripts = {"capital of france": ["<search>capital of france</search>"]}  # searches until the end
    backend = backend_file(tmp_path / "backend.yaml", url, max_turns=5)
    src = tmp_path / "src"
    (src / "nq").mkdir(parents=True)
    (src / "nq" / "test.jsonl").write_text(json.dumps({"question": "capital of france", "golden_answers": ["Paris"]}) + "\n")
    prepare(tmp_path / "data", train=[], eval_sets=["nq"], source_dir=src)
    with serve_app(scripted_policy_app(tokenizer, scripts, [])) as policy_url:
        rc = cli(eval_cmd, ["eval", "--policy-url", policy_url, "--model", "tiny", "--tokenizer", str(tiny_model_dir),
                            "--backend-config", str(backend), "--data", str(tmp_path / "data"), "--sets", "nq",
                            "--out", str(tmp_path / "eval"), "--no-progress", "--max-response-tokens", "80"])
    assert rc == 0
    (episode,) = [json.loads(line) for line in (tmp_path / "eval" / "predictions_nq.jsonl").read_text().splitlines()]
    assert len(tokenizer.encode(episode["trajectory"], add_special_tokens=False)) <= 80
    assert 1 <= episode["searches"] < 5


def test_ask_scores_only_the_policys_own_text(
    tiny_model_dir: Path, fake_serpapi: tuple[str, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 8 item 1 in `ask`/`eval`: the invalid-action message names `<answer> and </answer>`; a
    policy that never answers scores 0, not F1 0.5 against "Romeo and Juliet"."""
    from transformers import AutoTokenizer

    monkeypatch.setenv("SERPAPI_API_KEY", "test-key")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    url, _ = fake_serpapi
    scripts = {ROMEO: ["<think>hmm</think> I am not sure.", "<think>still unsure</think> no idea"]}
    backend = backend_file(tmp_path / "backend.yaml", url, max_turns=1)
    with serve_app(scripted_policy_app(tokenizer, scripts, [])) as policy_url:
        rc = cli(ask_cmd, ["ask", ROMEO, "--policy-url", policy_url, "--model", "tiny", "--tokenizer",
                           str(tiny_model_dir), "--backend-config", str(backend), "--answer", "Romeo and Juliet"])
    assert rc == 0
    shown = capsys.readouterr().out
    assert "--- invalid action ---" in shown and "answer: (none)" in shown
    assert "f1=0.000" in shown and "cover_em=0.000" in shown


def test_report_says_which_em_is_the_papers() -> None:
    """Issue 8 item 9: ZeroSearch's "EM" column is cover-EM; the table must not invite comparing strict EM with it."""
    table = markdown_table([SetResult(name="nq", n=2, em=0.5, cover_em=1.0, f1=0.75, searches_per_question=1.0,
                                      failed_searches=0, errors=0)])
    header = table.splitlines()[0]
    assert "EM (strict)" in header and "cover-EM (paper's EM)" in header
    assert "| nq | 2 | 50.00 | 100.00 | 75.00 |" in table
