"""The mini policy's warm-up (`serpsim-train mini-policy`): its demonstrations follow the turn
protocol on training questions only (rendered exactly as verl's agent loop renders a prepare-data
row), and the copying stage's items mark where the span to copy starts. The probe of a warmed-up
policy (`serpsim-train mini-probe`: gold vs random passages) runs in no test: a policy that reads
well enough for its assertions takes over ten CPU minutes to warm up."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from serpsim_trainer.cli import main as cli
from serpsim_trainer.data import QAItem, make_row
from serpsim_trainer.mini.warmup import WarmupSettings, WorldDocs, copy_item, demonstration, turn_pairs
from serpsim_trainer.tags import INFORMATION_CLOSE, INFORMATION_OPEN, parse_action
from serpsim_trainer.turns import render_prompt

from .reader import Reader


def _qa(world: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (world / "qa" / "mini" / f"{split}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "world"
    assert cli(["mini-world", str(out), "--size", "ci"]) == 0
    return out


def _docs(observation: str) -> list[str]:
    body = observation.removeprefix(INFORMATION_OPEN).removesuffix(INFORMATION_CLOSE)
    return [re.sub(r"^Doc \d+: ", "", line) for line in body.split("\n")]


def test_demonstrations_search_read_and_answer(world: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    reader, docs = Reader(world), WorldDocs(world)
    rng = random.Random(0)
    kinds: Counter[str] = Counter()
    gold_ranks: Counter[int] = Counter()
    for q in _qa(world, "train") * 3:
        demo = demonstration(q, docs, WarmupSettings(), rng)
        actions = [parse_action(t) for t in demo.turns]
        assert actions[-1].kind == "answer"
        if len(demo.turns) == 1:
            kinds["direct"] += 1
            assert actions[0].content == q["golden_answers"][0]
            continue
        renamed = demo.question != q["question"]
        kinds["renamed" if renamed else "original"] += 1
        assert [a.kind for a in actions[:-1]] == ["search"] * q["hops"] and len(demo.observations) == q["hops"]
        # The first query is the question or the entity it names.
        query = actions[0].content
        assert query == demo.question or (query in demo.question and query[0].isupper())
        if not renamed:
            kinds["entity" if query == q["entity"] else "question"] += 1
        quotes = [re.search(r"<think> (.*) </think>", t).group(1) for t in demo.turns[1:]]
        for hop, observation in enumerate(demo.observations):
            shown = _docs(observation)
            # Each block: five passages, one of which holds the sentence the next turn quotes.
            assert len(shown) == 5 and sum(quotes[hop] in d for d in shown) == 1
            if not renamed:
                gold = reader.by_id[reader.resolve(q["question"])[1].passages[hop]]["text"]
                assert shown.count(gold) == 1 and quotes[hop] in gold
                gold_ranks[shown.index(gold)] += 1
        if q["hops"] == 2:  # the second query is the bridge, named in the first quote
            assert actions[1].content in quotes[0] and (renamed or actions[1].content == q["bridge"])
        assert actions[-1].content in quotes[-1] and (renamed or actions[-1].content == q["golden_answers"][0])
    total = sum(kinds[k] for k in ("direct", "renamed", "original"))
    assert 0.08 < kinds["direct"] / total < 0.25
    assert 0.55 < kinds["renamed"] / (kinds["renamed"] + kinds["original"]) < 0.85
    assert kinds["entity"] > 0.25 * kinds["question"]
    assert gold_ranks[0] > sum(gold_ranks.values()) / 3 and all(gold_ranks[r] for r in range(5))

    # Contexts: the prepare-data row's prompt, rendered as the agent loop renders it, then the turns.
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    q = next(q for q in _qa(world, "train") if q["hops"] == 2)
    demo = demonstration(q, docs, WarmupSettings(direct_share=0.0, rename_share=0.0), random.Random(1))
    pairs = turn_pairs(tokenizer, demo)
    row = make_row("mini", "train", 0, QAItem(q["question"], q["golden_answers"]))
    assert pairs[0][0] == render_prompt(tokenizer, row["prompt"])
    t, o = demo.turns, demo.observations
    assert tokenizer.decode(pairs[2][0] + pairs[2][1]) == (
        tokenizer.decode(pairs[0][0]) + t[0] + o[0] + t[1] + o[1] + t[2] + tokenizer.eos_token)


def test_renaming_swaps_names_and_years_consistently(world: Path) -> None:
    docs = WorldDocs(world)
    reader = Reader(world)
    text = reader.passages[0]["text"] + " / " + reader.passages[0]["text"]
    renamed = docs.rename([text, reader.passages[0]["title"]], random.Random(0))
    first, second = renamed[0].split(" / ")
    assert first == second != reader.passages[0]["text"]  # one mapping for every text of a call
    assert renamed[0].startswith(renamed[1]) and renamed[1] in {p["title"] for p in reader.passages}
    assert re.sub(r"\b\d{4}\b", "Y", first).count("Y") == re.sub(r"\b\d{4}\b", "Y", reader.passages[0]["text"]).count("Y")


def test_warm_up_reads_training_questions_only(world: Path, tmp_path: Path) -> None:
    """Without the held-out file the warm-up runs all the same (it never opens it); the model it
    saves loads by path with token ids that survive the reload."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    (world / "qa" / "mini" / "test.jsonl").rename(tmp_path / "test.jsonl")
    try:
        out = tmp_path / "policy"
        assert cli(["mini-policy", str(world), str(out), "--steps", "2", "--copy-steps", "2"]) == 0
    finally:
        (tmp_path / "test.jsonl").rename(world / "qa" / "mini" / "test.jsonl")
    marker = json.loads((out / "serpsim_mini_policy.json").read_text())
    assert marker["train_questions"] == len(_qa(world, "train")) and marker["settings"]["steps"] == 2
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert model.config.vocab_size == len(tokenizer) and (model.config.hidden_size // model.config.num_attention_heads) % 32 == 0
    text = "<search> " + _qa(world, "train")[0]["question"] + " </search>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    # Entity names are whole tokens (copying a name is copying a word or two).
    name = _qa(world, "train")[0]["entity"]
    assert len(tokenizer.encode(" " + name, add_special_tokens=False)) == len(name.split())


def test_copy_items_mark_the_span_they_ask_for() -> None:
    """The separator precedes the span and follows it: without the first, where the span starts
    cannot be found and a 2-layer model never learns to copy."""
    rng = random.Random(3)
    separator = [1, 2]
    for _ in range(50):
        context, target = copy_item(range(10, 5000), separator, rng, max_prefix=20)
        assert 4 <= len(target) <= 16 and context[-2:] == separator
        assert context[-2 - len(target) - 2 : -2] == [*separator, *target]
        assert len(context) - len(target) - 4 <= 20
