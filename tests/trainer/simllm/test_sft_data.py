"""`build-sft`: chat rows in the simulator's exact `sft` templates, and a held-out split by question
that no held-out question crosses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from serpsim_trainer.reward import normalize_answer
from serpsim_trainer.simllm.judge import judge_records
from serpsim_trainer.simllm.records import SearchRecord, write_jsonl
from serpsim_trainer.simllm.sft_data import check_disjoint

from .conftest import cli, kb_records

# ZeroSearch's SFT templates (reference/zerosearch.md §1.1 a/b), written out here, not imported.
USEFUL_HEAD = ("You are the Google search engine.\nGiven a query, you need to generate five useful documents for the "
               "query.\n\n")
USEFUL_TAIL = ("Each document should contain about 30 words, and these documents should contain useful information."
               "\n\nQuery: {query}\nUseful Output:\n")
NOISY_HEAD = USEFUL_HEAD.replace("five useful", "five noisy")
NOISY_TAIL = USEFUL_TAIL.replace("useful information", "noisy information").replace("Useful Output", "Noisy Output")


def _judged(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    records = [SearchRecord.model_validate(r) for r in rows]
    judged, _ = asyncio.run(judge_records(records, "rule", progress=False))
    write_jsonl(tmp_path / "judged.jsonl", judged)
    return tmp_path / "judged.jsonl"


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rows_use_the_exact_sft_templates(tmp_path: Path) -> None:
    rows = kb_records(6)
    judged = _judged(tmp_path, rows)
    assert cli("build-sft", "--judged", str(judged), "--out", str(tmp_path / "sft"), "--eval-fraction", "0.2") == 0
    train = _read(tmp_path / "sft" / "sft_train.jsonl")
    assert train and {r["quality"] for r in train} == {"useful", "noisy"}
    source = {(r["question"], r["query"]): r for r in rows}
    for row in train:
        system, user, assistant = row["messages"]
        record = source[(row["question"], row["query"])]
        hint = f'The user is trying to answer the question: "{record["question"]}" whose answer is {record["answers"][0]}.\n'
        head, tail = (USEFUL_HEAD, USEFUL_TAIL) if row["quality"] == "useful" else (NOISY_HEAD, NOISY_TAIL)
        assert system == {"role": "system", "content": ""}
        assert user == {"role": "user", "content": head + hint + tail.format(query=record["query"])}
        assert assistant["role"] == "assistant"
        assert assistant["content"] == "\n".join(f"Doc {i}: {d}" for i, d in enumerate(record["documents"], 1))
        # The label comes from the judge: useful rows' documents hold the answer, noisy rows' never.
        assert (record["answers"][0] in assistant["content"]) == (row["quality"] == "useful")
    split = json.loads((tmp_path / "sft" / "split.json").read_text())
    assert split["questions_train"] + split["questions_eval"] == 18 and split["questions_eval"] == 4
    assert split["rows_train"] == {"useful": 14, "noisy": 14} and split["triples_eval"] == 8


def test_no_held_out_question_enters_the_sft_set(tmp_path: Path) -> None:
    rows = kb_records(10)
    # The same questions asked again in other trajectories, spelled differently: they must land
    # on the same side of the split as their first spelling.
    again = [{**r, "trajectory_id": r["trajectory_id"] + "-again", "question": r["question"].upper().rstrip("?") + " !"}
             for r in rows[::3]]
    forced = tmp_path / "benchmark.jsonl"
    forced.write_text(json.dumps({"question": rows[4]["question"].lower(), "golden_answers": ["x"]}) + "\n")
    judged = _judged(tmp_path, rows + again)
    out = tmp_path / "sft"
    assert cli("build-sft", "--judged", str(judged), "--out", str(out), "--eval-fraction", "0.3", "--seed", "3",
               "--eval-questions", str(forced)) == 0
    key = normalize_answer
    held = {key(t["question"]) for t in _read(out / "triples_eval.jsonl")} | {
        key(r["question"]) for r in _read(out / "sft_eval.jsonl")}
    tuned = {key(r["question"]) for r in _read(out / "sft_train.jsonl")} | {
        key(t["question"]) for t in _read(out / "triples_train.jsonl")}
    assert held and tuned and not held & tuned
    assert held | tuned == {key(r["question"]) for r in rows}
    assert key(rows[4]["question"]) in held
    with pytest.raises(RuntimeError, match="held-out question"):
        check_disjoint([{"question": rows[0]["question"].upper()}], [], {key(rows[0]["question"])})


def test_build_sft_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli("build-sft", "--judged", str(empty), "--out", str(tmp_path / "o")) == 2
    assert "no judged records" in capsys.readouterr().err
    short = [{**r, "documents": r["documents"][:3]} for r in kb_records(2)]
    judged = _judged(tmp_path, short)
    assert cli("build-sft", "--judged", str(judged), "--out", str(tmp_path / "o")) == 2
    assert "none of the 12 records has 5 documents" in capsys.readouterr().err
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(json.dumps(kb_records(1)[0]) + "\n")
    assert cli("build-sft", "--judged", str(unlabelled), "--out", str(tmp_path / "o")) == 2
    assert "unlabelled.jsonl:1: not a JudgedRecord" in capsys.readouterr().err
