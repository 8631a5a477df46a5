"""`judge`: the rule and outcome judges, verdict parsing, the LLM judge against a scripted server,
balancing, and clear errors for bad input."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from serpsim_trainer.simllm.judge import LLMJudge, balance, judge_records, parse_verdict
from serpsim_trainer.simllm.records import JudgedRecord, SearchRecord
from serpsim_trainer.simllm.textstats import contains_answer, distinct_n, duplicate_counts

from .conftest import chat_reply, cli, kb_records, scripted_openai, write_records


def test_containment_is_normalised_and_whole_words() -> None:
    assert contains_answer(["The Eiffel Tower opened in 1889."], ["1889"])
    assert contains_answer(["designed by GUSTAVE eiffel!"], ["Gustave Eiffel"])
    assert contains_answer(["x", "the answer is the Rome"], ["Rome"])
    assert not contains_answer(["Romeo and Juliet"], ["Rome"])
    assert not contains_answer(["opened in 18890"], ["1889"])
    assert not contains_answer(["anything"], ["", "the"])  # an answer that normalises to nothing never matches


def test_duplicates_and_distinct_n() -> None:
    long = "The tower opened in 1889 after two years of work by hundreds of skilled workers from many countries"
    docs = [long + ".", long.lower() + "!", long.replace("many countries", "many nations"), "Something else entirely."]
    assert duplicate_counts(docs) == (1, 1)
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b c"], 2) == 1.0
    assert distinct_n([], 2) == 0.0


@pytest.mark.parametrize(("reply", "label"), [
    ("useful", "useful"), ("Noisy", "noisy"), ("**Useful**", "useful"), ("Verdict: noisy", "noisy"),
    ('"useful"', "useful"), ("Useful. The documents name the designer.", "useful"),
    ("<think>is it useful? maybe noisy</think>\nnoisy", "noisy"), ("not useful", "noisy"),
    ("The results are noisy.", "noisy"), ("These are useful documents.", "useful"),
    ("", None), ("I cannot tell", None), ("useful or noisy? It depends.", None), ("usefulness", None),
    ("The first is useful, the second noisy.", None),
])
def test_verdict_parsing(reply: str, label: str | None) -> None:
    assert parse_verdict(reply) == label


def _records(n_landmarks: int = 4) -> list[SearchRecord]:
    return [SearchRecord.model_validate(r) for r in kb_records(n_landmarks)]


def test_rule_and_outcome_judges_on_the_knowledge_base() -> None:
    records = _records()
    judged, stats = asyncio.run(judge_records(records, "rule", progress=False))
    # The knowledge base's first search of each question states the fact, the second never does.
    assert [r.label for r in judged] == ["useful", "noisy"] * (len(records) // 2)
    assert (stats.useful, stats.noisy, stats.garbage) == (len(records) // 2, len(records) // 2, 0)
    judged, _ = asyncio.run(judge_records(records, "outcome", progress=False))
    # Odd facts were answered right: both of their searches are useful (ZeroSearch v1).
    assert [r.label for r in judged] == ["noisy", "noisy", "useful", "useful"] * (len(records) // 4)


def test_balance_downsamples_the_larger_class_seeded() -> None:
    base = _records(2)[0]
    rows = [JudgedRecord(**{**base.model_dump(), "trajectory_id": f"t{i}"}, label="useful" if i < 8 else "noisy")
            for i in range(11)]
    kept = balance(rows, seed=1)
    assert Counter(r.label for r in kept) == {"useful": 3, "noisy": 3}
    ids = [r.trajectory_id for r in kept]
    assert ids == [r.trajectory_id for r in balance(rows, seed=1)] and ids == sorted(ids, key=lambda t: int(t[1:]))
    assert ids[3:] == ["t8", "t9", "t10"] and ids != [r.trajectory_id for r in balance(rows, seed=2)]
    with pytest.raises(ValueError, match="all 8 judged pairs are useful"):
        balance(rows[:8])


def test_llm_judge_retries_counts_and_excludes_garbage() -> None:
    """Replies by pair: clear verdicts in odd shapes; garbage then a verdict (retried); an HTTP
    error then a verdict; garbage every time (counted and left out, never guessed)."""
    records = _records(4)  # 24 pairs
    seen: Counter[str] = Counter()

    def handler(path: str, body: dict[str, Any]) -> Any:
        assert path == "chat" and body["model"] == "judge-m" and body["messages"][0]["role"] == "user"
        prompt = body["messages"][0]["content"]
        query = prompt.split("Search query: ", 1)[1].split("\n", 1)[0]
        seen[query] += 1
        record = next(r for r in records if r.query == query)
        truth = "useful" if contains_answer(record.documents, record.answers) else "noisy"
        kind = records.index(record) % 4
        if kind == 1 and seen[query] == 1:
            return chat_reply("Let me think about the documents first...")
        if kind == 2 and seen[query] == 1:
            return 503, {"error": "overloaded"}
        if kind == 3 and "Amazon" in query:
            return chat_reply("I am not sure.")
        return chat_reply(f"**{truth.capitalize()}**" if kind else f"Verdict: {truth}")

    async def run() -> Any:
        judge = LLMJudge(url, "judge-m", retries=2)
        try:
            return await judge_records(records, "llm", llm=judge, progress=False)
        finally:
            await judge.aclose()

    with scripted_openai(handler) as url:
        judged, stats = asyncio.run(run())
    hopeless = [r for i, r in enumerate(records) if i % 4 == 3 and "Amazon" in r.query]
    assert hopeless and stats.garbage == len(hopeless) and len(judged) == len(records) - len(hopeless)
    assert all(seen[r.query] == 3 for r in hopeless)  # 1 + 2 retries, then given up
    assert all(r.label == ("useful" if contains_answer(r.documents, r.answers) else "noisy") for r in judged)
    assert all(r.judge == "llm:judge-m" for r in judged)
    assert stats.garbage_examples == ["I am not sure."] * len(hopeless)


def test_judge_cli_writes_balanced_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = kb_records(4)
    records = write_records(tmp_path / "searches.jsonl", rows + rows[:6:2])  # 3 extra useful pairs
    out = tmp_path / "judged.jsonl"
    assert cli("judge", "--records", str(records), "--out", str(out), "--no-progress") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["useful"], report["noisy"], report["kept_useful"], report["kept_noisy"]) == (15, 12, 12, 12)
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(judged) == 24 and Counter(r["label"] for r in judged) == {"useful": 12, "noisy": 12}
    assert set(judged[0]) >= {"question", "answers", "query", "documents", "final_answer", "trajectory_id",
                              "backend", "label", "judge"}


def test_judge_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = str(tmp_path / "j.jsonl")
    assert cli("judge", "--records", str(empty), "--out", out, "--no-progress") == 2
    assert "the collection is empty" in capsys.readouterr().err
    no_answers = write_records(tmp_path / "bad.jsonl", [{**kb_records(1)[0], "answers": []}])
    assert cli("judge", "--records", str(no_answers), "--out", out, "--no-progress") == 2
    assert "bad.jsonl:1: not a SearchRecord" in capsys.readouterr().err
    records = write_records(tmp_path / "ok.jsonl", kb_records(2))
    assert cli("judge", "--records", str(records), "--out", out, "--judge", "llm") == 2
    assert "--judge-url and --judge-model" in capsys.readouterr().err

    with scripted_openai(lambda path, body: chat_reply("As an AI model I cannot judge this.")) as url:
        rc = cli("judge", "--records", str(records), "--out", out, "--judge", "llm", "--judge-url", url,
                 "--judge-model", "m", "--judge-retries", "1", "--no-progress")
    err = capsys.readouterr().err
    assert rc == 2 and "no clear verdict for 12 of 12 pairs" in err and "As an AI model" in err
    assert not Path(out).exists()
