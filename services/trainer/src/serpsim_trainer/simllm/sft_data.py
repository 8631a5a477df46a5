"""`build-sft`: judged records -> chat-format SFT rows in the simulator's exact `sft` templates.

Each row is `messages` = an empty system message, the user turn `build_prompt(query, label,
"sft", question, first gold answer)` (the strings the simulator renders and the released
checkpoints were tuned on), and the assistant turn: the real documents as `Doc 1: ...` lines,
five per row. That is the conversation every simulator engine sends (reference/zerosearch.md
§1.1, §3), in the OpenAI / TRL `messages` format.

Questions are split, not rows: every record of a held-out question goes to the evaluation side,
so no held-out question reaches the SFT set or the tuning triples (`check_disjoint` enforces it
before anything is written). Output directory:

- `sft_train.jsonl`, `sft_eval.jsonl`: the rows (plus `quality`, `question`, `answer`, `query`);
- `triples_train.jsonl`, `triples_eval.jsonl`: unique (question, answer, query) for `eval-sim`,
  on tuned and on held-out questions;
- `split.json`: the counts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from serpsim_protocol.prompts import DOCS_PER_GENERATION, build_prompt, one_line

from .records import JudgedRecord, question_key, target_documents, write_jsonl

FILES = ("sft_train.jsonl", "sft_eval.jsonl", "triples_train.jsonl", "triples_eval.jsonl")


def sft_messages(record: JudgedRecord) -> list[dict[str, str]]:
    prompt = build_prompt(record.query, record.label, "sft", record.question, record.answers[0])
    target = "\n".join(f"Doc {i}: {one_line(d)}" for i, d in enumerate(target_documents(record), start=1))
    return [{"role": "system", "content": ""}, {"role": "user", "content": prompt},
            {"role": "assistant", "content": target}]


def sft_row(record: JudgedRecord) -> dict[str, Any]:
    return {"messages": sft_messages(record), "quality": record.label, "question": record.question,
            "answer": record.answers[0], "query": record.query, "trajectory_id": record.trajectory_id}


def triples(records: Iterable[JudgedRecord]) -> list[dict[str, Any]]:
    """Unique (question, query) pairs with the question's gold answers, in first-seen order."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        key = (question_key(r.question), " ".join(r.query.lower().split()))
        seen.setdefault(key, {"question": r.question, "answer": r.answers[0], "answers": r.answers, "query": r.query})
    return list(seen.values())


def split_questions(
    records: Sequence[JudgedRecord], eval_fraction: float, seed: int, forced_eval: Iterable[str] = ()
) -> tuple[set[str], set[str]]:
    """(train, eval) question keys: `forced_eval` questions plus a seeded `eval_fraction` of the rest."""
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError("the evaluation fraction must be in [0, 1)")
    keys = sorted({question_key(r.question) for r in records})
    forced = {question_key(q) for q in forced_eval} & set(keys)
    rest = [k for k in keys if k not in forced]
    random.Random(seed).shuffle(rest)
    wanted = max(1, round(eval_fraction * len(keys))) if eval_fraction > 0 else 0
    evaluation = forced | set(rest[: max(0, wanted - len(forced))])
    train = set(keys) - evaluation
    if not train:
        raise ValueError(f"no question is left for training ({len(keys)} questions, all held out)")
    return train, evaluation


def check_disjoint(rows: Sequence[dict[str, Any]], tuning_triples: Sequence[dict[str, Any]], eval_keys: set[str]) -> None:
    """Raise if any held-out question occurs in the SFT rows or the tuning triples."""
    leaked = {question_key(x["question"]) for x in [*rows, *tuning_triples]} & eval_keys
    if leaked:
        raise RuntimeError(f"{len(leaked)} held-out question(s) would enter the SFT set, e.g. {sorted(leaked)[:3]}")


@dataclass
class SftSetSummary:
    records: int
    too_few_documents: int
    questions_train: int
    questions_eval: int
    rows_train: dict[str, int]
    rows_eval: dict[str, int]
    triples_train: int
    triples_eval: int


def build_sft_set(
    records: Sequence[JudgedRecord],
    out_dir: Path,
    *,
    eval_fraction: float = 0.1,
    seed: int = 0,
    forced_eval: Iterable[str] = (),
    min_documents: int = DOCS_PER_GENERATION,
) -> SftSetSummary:
    """Write the SFT rows and triples of `records` to `out_dir`, split by question."""
    if not records:
        raise ValueError("no judged records: run `judge` first (its output is the input here)")
    usable = [r for r in records if len(target_documents(r)) >= min_documents]
    if not usable:
        raise ValueError(f"none of the {len(records)} records has {min_documents} documents (lower --min-documents?)")
    train_keys, eval_keys = split_questions(usable, eval_fraction, seed, forced_eval)
    train = [r for r in usable if question_key(r.question) in train_keys]
    held = [r for r in usable if question_key(r.question) in eval_keys]
    rows_train, rows_eval = [sft_row(r) for r in train], [sft_row(r) for r in held]
    triples_train = triples(train)
    check_disjoint(rows_train, triples_train, eval_keys)
    for name, rows in zip(FILES, (rows_train, rows_eval, triples_train, triples(held))):
        write_jsonl(out_dir / name, rows)

    def by_label(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        return {q: sum(r["quality"] == q for r in rows) for q in ("useful", "noisy")}

    summary = SftSetSummary(
        records=len(records), too_few_documents=len(records) - len(usable),
        questions_train=len(train_keys), questions_eval=len(eval_keys),
        rows_train=by_label(rows_train), rows_eval=by_label(rows_eval),
        triples_train=len(triples_train), triples_eval=len(triples(held)),
    )
    (out_dir / "split.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary
