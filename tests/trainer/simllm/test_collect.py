"""`collect`: a scripted policy (OpenAI-compatible completions over HTTP) answers training questions
through the trainer's own episode loop against the real simulator; one record per search call.
Resumable, bounded, and clear about bad input."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from serpsim_trainer.data import prepare
from transformers import AutoTokenizer

from ..conftest import write_tool_config
from . import kb
from .conftest import cli, scripted_openai

FACTS = kb.facts(0, 2)[:5]
SLOW = FACTS[2].question


class Policy:
    """Searches the fact's query, then answers: right for even facts, wrong for odd ones. The
    SLOW question's first turn does not come back while `slow` is set."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.slow = True
        self.calls: list[str] = []

    def __call__(self, path: str, body: dict[str, Any]) -> Any:
        # The context arrives as token ids (the trainer's own sequence), as `eval` sends it.
        assert path == "completions" and body["stop"] == ["</search>", "</answer>"]
        prompt = self.tokenizer.decode(body["prompt"])
        question = re.search(r"Question: (.*?)\n", prompt).group(1)  # type: ignore[union-attr]
        index = next(i for i, f in enumerate(FACTS) if f.question == question)
        self.calls.append(question)
        if "<information>" not in prompt.split("<|im_start|>assistant\n", 1)[1]:
            text = f"<think>I need to look this up.</think>\n<search> {FACTS[index].query} "
            if question == SLOW and self.slow:
                return self._later(text)
        else:
            answer = FACTS[index].answer if index % 2 == 0 else "nobody"
            text = f"<think>The documents help.</think>\n<answer> {answer} "
        return {"choices": [{"text": text, "finish_reason": "stop"}]}

    async def _later(self, text: str) -> dict[str, Any]:
        for _ in range(600):  # until the test lets it go, at most 30 s
            if not self.slow:
                break
            await asyncio.sleep(0.05)
        return {"choices": [{"text": text, "finish_reason": "stop"}]}


def _questions(tmp_path: Path) -> Path:
    """Training questions the way prepare-data writes them (verl parquet)."""
    src = tmp_path / "src"
    (src / "nq").mkdir(parents=True)
    (src / "nq" / "train.jsonl").write_text(
        "".join(json.dumps({"question": f.question, "golden_answers": [f.answer]}) + "\n" for f in FACTS))
    prepare(tmp_path / "data", train=["nq"], eval_sets=[], source_dir=src)
    return tmp_path / "data" / "train.parquet"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_collect_resumes_and_bounds(tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Episode deadline, resume and --max-questions. Nothing listens on the backend's port, so
    every search fails fast (shown to the policy as no information, counted, never recorded)."""
    questions = _questions(tmp_path)
    backend = write_tool_config(tmp_path / "backend.yaml", url="http://127.0.0.1:9", max_retries=0)
    out = tmp_path / "collected"
    policy = Policy(AutoTokenizer.from_pretrained(str(tiny_model_dir)))
    with scripted_openai(policy) as url:
        args = ["collect", "--policy-url", url, "--model", "scripted", "--tokenizer", str(tiny_model_dir),
                "--backend-config", str(backend),
                "--questions", str(questions), "--concurrency", "3", "--deadline", "3", "--no-progress"]
        assert cli(*args, "--out", str(out)) == 0
        first = json.loads(capsys.readouterr().out)
        assert (first["questions"], first["episodes"], first["errors"], first["timeouts"], first["searches"],
                first["failed_searches"]) == (5, 4, 1, 1, 0, 4)
        episodes = _lines(out / "episodes.jsonl")
        assert len(episodes) == 5 and [e["question"] for e in episodes if e.get("error")] == [SLOW]
        assert not (out / "searches.jsonl").exists()

        policy.slow, policy.calls = False, []
        assert cli(*args, "--out", str(out)) == 0  # resume: only the failed question is played again
        second = json.loads(capsys.readouterr().out)
        assert (second["already_collected"], second["episodes"], second["errors"]) == (4, 1, 0)
        assert set(policy.calls) == {SLOW} and len(_lines(out / "episodes.jsonl")) == 6

        bounded = tmp_path / "bounded"
        assert cli(*args, "--out", str(bounded), "--max-questions", "2") == 0
        assert json.loads(capsys.readouterr().out)["episodes"] == 2 and len(_lines(bounded / "episodes.jsonl")) == 2


@pytest.mark.heavy
def test_collect_records_the_simulators_documents(
    live_simulator: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = _questions(tmp_path)
    backend = write_tool_config(tmp_path / "backend.yaml", url=live_simulator, trace_path=str(tmp_path / "trace.jsonl"))
    out = tmp_path / "collected"
    policy = Policy(AutoTokenizer.from_pretrained(str(tiny_model_dir)))
    policy.slow = False
    with scripted_openai(policy) as url:
        assert cli("collect", "--policy-url", url, "--model", "scripted", "--tokenizer", str(tiny_model_dir),
                   "--backend-config", str(backend),
                   "--questions", str(questions), "--out", str(out), "--no-progress") == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["episodes"], stats["errors"], stats["searches"]) == (5, 0, 5)
    records = _lines(out / "searches.jsonl")
    assert sorted(r["question"] for r in records) == sorted(f.question for f in FACTS)
    by_question = {f.question: (i, f) for i, f in enumerate(FACTS)}
    for r in records:
        index, fact = by_question[r["question"]]
        assert r["answers"] == [fact.answer] and r["query"] == fact.query and r["backend"] == "simulator"
        assert r["trajectory_id"].startswith("nq-train-") and r["turn"] == 0
        assert r["final_answer"] == (fact.answer if index % 2 == 0 else "nobody")
        # The documents the tiny simulator wrote, as a list (the policy saw them as `Doc k:` lines).
        assert 1 <= len(r["documents"]) <= 5 and all(d and not d.startswith("Doc ") for d in r["documents"])
    # Searched as evaluation searches: no gold answer and no noise reach the backend.
    trace = _lines(tmp_path / "trace.jsonl")
    assert len(trace) == 5 and all(t["answer"] is None and t["quality"] == "useful" for t in trace)


def test_collect_bad_input(tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unanswered = tmp_path / "questions.jsonl"
    unanswered.write_text(json.dumps({"question": "Who designed the Eiffel Tower?"}) + "\n"
                          + json.dumps({"question": "When did it open?", "golden_answers": []}) + "\n")
    backend = write_tool_config(tmp_path / "backend.yaml", url="http://127.0.0.1:9", max_retries=0)
    common = ["--model", "m", "--tokenizer", str(tiny_model_dir), "--backend-config", str(backend),
              "--out", str(tmp_path / "o"), "--no-progress"]
    assert cli("collect", "--policy-url", "http://127.0.0.1:9", "--questions", str(unanswered), *common) == 2
    assert "none of its 2 rows has both a question and gold answers" in capsys.readouterr().err
    answered = _questions(tmp_path)
    # Nothing listens on port 9: every episode fails, and the command says so.
    assert cli("collect", "--policy-url", "http://127.0.0.1:9", "--questions", str(answered), *common) == 1
    assert "every episode failed; first error: " in capsys.readouterr().err
    assert not (tmp_path / "o" / "searches.jsonl").exists()
