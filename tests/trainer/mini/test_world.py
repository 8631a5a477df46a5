"""The synthetic world of the miniature pipeline (`serpsim-train mini-world`): deterministic per
seed, split by facts without leakage, every gold answer stated in exactly the passage that should
state it (read back by an independent reader), near-namesake distractors in the corpus and in
what BM25 retrieves, and the QA files readable by `prepare-data`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from serpsim_trainer.cli import main as cli

from .reader import Reader


def _world(path: Path, *args: str) -> Path:
    assert cli(["mini-world", str(path), *args]) == 0
    return path


def _qa(world: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (world / "qa" / "mini" / f"{split}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def full_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _world(tmp_path_factory.mktemp("full") / "world", "--size", "full", "--seed", "3")


@pytest.fixture(scope="module")
def ci_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _world(tmp_path_factory.mktemp("ci") / "world", "--size", "ci", "--seed", "0")


def test_same_seed_same_world_other_seed_other_world(tmp_path: Path, ci_world: Path) -> None:
    again = _world(tmp_path / "again", "--size", "ci", "--seed", "0")
    other = _world(tmp_path / "other", "--size", "ci", "--seed", "1")
    for name in ("corpus.jsonl", "qa/mini/train.jsonl", "qa/mini/test.jsonl", "world.json", "manifest.json"):
        assert (again / name).read_bytes() == (ci_world / name).read_bytes(), name
    assert (other / "corpus.jsonl").read_bytes() != (ci_world / "corpus.jsonl").read_bytes()
    assert {q["question"] for q in _qa(other, "test")} != {q["question"] for q in _qa(ci_world, "test")}


def test_full_size_split_never_asks_a_test_fact_in_training(full_world: Path) -> None:
    reader = Reader(full_world)
    train, test = _qa(full_world, "train"), _qa(full_world, "test")
    assert len(test) >= 300 and len(train) >= 2 * len(test)
    assert {q["hops"] for q in test} == {1, 2} and {q["hops"] for q in train} == {1, 2}
    # The facts each question needs, as the independent reader finds them by reading passages.
    trained = {fact for q in train for fact in reader.resolve(q["question"])[1].facts}
    for q in test:
        needed = set(reader.resolve(q["question"])[1].facts)
        assert not needed & trained, q
    assert not {q["question"] for q in test} & {q["question"] for q in train}


def test_every_answer_is_read_from_the_passages_that_state_it(ci_world: Path) -> None:
    reader = Reader(ci_world)
    world = json.loads((ci_world / "world.json").read_text())
    fact_passages = {f["id"]: f["passages"] for f in world["facts"]}
    templates = Counter()
    for q in _qa(ci_world, "train") + _qa(ci_world, "test"):
        template, reading = reader.resolve(q["question"])
        templates[template] += 1
        # Single- and two-hop: following the passages gives the gold answer, through the facts listed.
        assert q["golden_answers"] == [reading.answer], q
        assert q["facts"] == reading.facts and q["template"] == template
        if q["hops"] == 2:
            assert q["bridge"] == reading.facts[1].split("|")[0] or template == "founded_by_headquarters"
        for fact, pid in zip(reading.facts, reading.passages):
            subject, relation = fact.split("|")
            # Stated in exactly one passage, the subject's own, and the world file says so.
            assert reader.stating(subject, relation) == [pid] == fact_passages[fact], fact
    assert len(templates) == 14  # every template is asked


def test_distractors_are_near_namesakes_that_retrieval_finds(ci_world: Path) -> None:
    import bm25s

    reader = Reader(ci_world)
    world = json.loads((ci_world / "world.json").read_text())
    distractors = {e["name"]: e for e in world["entities"] if e["distractor_of"]}
    real = [e for e in world["entities"] if not e["distractor_of"] and e["kind"] in ("city", "org", "person")]
    assert len(distractors) >= 0.4 * len(real)
    relations = {"person": ("birthplace", "born", "employer"), "org": ("founder", "founded", "headquarters"),
                 "city": ("country", "river")}
    for name, entity in distractors.items():
        original = entity["distractor_of"]
        assert name != original and name in reader.by_title and original in reader.by_title
        # Similar: one letter apart in the last word, or one shared word.
        a, b = name.split(), original.split()
        one_letter = len(a) == len(b) and a[:-1] == b[:-1] and len(a[-1]) == len(b[-1]) and sum(
            x != y for x, y in zip(a[-1], b[-1])) == 1
        assert one_letter or set(a) & set(b), (name, original)
        # Same attribute types: the distractor's passage states them, about itself.
        for relation in relations[entity["kind"]]:
            assert reader.stating(name, relation) == [reader.by_title[name]["id"]]

    # BM25 over the corpus (the corpus backend's library): the question finds its first passage,
    # and a near-namesake's passage is often among the five results.
    passages = reader.passages
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([p["text"] for p in passages], stopwords="en", show_progress=False),
                    show_progress=False)
    test = _qa(ci_world, "test")
    results, _ = retriever.retrieve(bm25s.tokenize([q["question"] for q in test], stopwords="en",
                                                   show_progress=False), k=5, show_progress=False)
    namesake_titles = {}
    for name, entity in distractors.items():
        namesake_titles.setdefault(entity["distractor_of"], set()).add(name)
    found = with_namesake = asked_with_namesake = 0
    for q, hits in zip(test, results):
        titles = {passages[i]["title"] for i in hits}
        first = reader.resolve(q["question"])[1].passages[0]
        found += first in {passages[i]["id"] for i in hits}
        if q["entity"] in namesake_titles:
            asked_with_namesake += 1
            with_namesake += bool(titles & namesake_titles[q["entity"]])
    assert found >= 0.9 * len(test)
    assert asked_with_namesake and with_namesake >= 0.5 * asked_with_namesake


def test_prepare_data_reads_the_world(ci_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert cli(["prepare-data", "--source-dir", str(ci_world / "qa"), "--train", "mini", "--eval", "mini",
                "--out", str(out), "--val-sample", "32"]) == 0
    train, test = _qa(ci_world, "train"), _qa(ci_world, "test")
    rows = pd.read_parquet(out / "train.parquet")
    assert len(rows) == len(train)
    assert [list(r["target"]) for r in rows["reward_model"].map(lambda m: m["ground_truth"])] == [
        q["golden_answers"] for q in train]
    assert len(pd.read_parquet(out / "test_mini.parquet")) == len(test)
    assert len(pd.read_parquet(out / "val.parquet")) == 32
    assert json.loads((ci_world / "manifest.json").read_text())["test_questions"] == len(test)


def test_bad_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["mini-world", str(tmp_path / "w"), "--test-fraction", "1.5"]) == 2
    assert "--test-fraction" in capsys.readouterr().err and not (tmp_path / "w").exists()
    with pytest.raises(SystemExit):
        cli(["mini-world", str(tmp_path / "w"), "--size", "huge"])
