"""The files the pipeline passes along: training questions in, one JSONL record per search call out.

A `SearchRecord` is one search call of one collected trajectory: the question, its gold answers,
the policy's sub-query, the documents the backend returned (a list), the trajectory's final
answer, its id and the backend. `judge` adds `label` (useful | noisy) and `judge`; `build-sft`
reads those. Every reader names the file and line of bad input instead of failing later.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from serpsim_protocol.prompts import DOCS_PER_GENERATION

from ..data import answers_of
from ..reward import gold_answers, normalize_answer

logger = logging.getLogger(__name__)

Label = Literal["useful", "noisy"]
LABELS: tuple[Label, ...] = ("useful", "noisy")


class SearchRecord(BaseModel):
    """One search call of one collected trajectory (`collect`'s output line)."""

    model_config = ConfigDict(extra="allow")

    trajectory_id: str
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1)
    query: str = Field(min_length=1)
    documents: list[str]
    final_answer: str | None = None
    turn: int = 0
    backend: str = ""


class JudgedRecord(SearchRecord):
    """A `SearchRecord` with the judge's verdict (`judge`'s output line)."""

    label: Label
    judge: str = ""


M = TypeVar("M", bound=BaseModel)


def read_jsonl(path: Path, model: type[M]) -> list[M]:
    """Every line of `path` as `model`; a bad line is an error naming the file and line."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    rows: list[M] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(model.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ValueError(f"{path}:{number}: not a {model.__name__}: {exc}") from exc
    return rows


def write_jsonl(path: Path, rows: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write `rows` (models or dicts) to `path`, replacing it; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            data = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
            fh.write(json.dumps(data, ensure_ascii=False) + "\n")
            n += 1
    return n


def question_key(question: str) -> str:
    """The identity of a question across files: SQuAD-normalised, so case and punctuation do not
    let one question sit on both sides of a split."""
    return normalize_answer(question)


def target_documents(record: SearchRecord) -> list[str]:
    """The documents that are judged and become the SFT target: the first five (every template
    asks for five)."""
    return [" ".join(d.split()) for d in record.documents[:DOCS_PER_GENERATION] if d.strip()]


@dataclass(frozen=True)
class Question:
    """One training question with its gold answers and a stable trajectory id."""

    id: str
    question: str
    answers: list[str]


def _question_of(row: dict[str, Any]) -> tuple[str, list[str], str]:
    """(question, gold answers, id) of a prepare-data parquet row or a plain QA record."""
    extra = row.get("extra_info") if isinstance(row.get("extra_info"), dict) else {}
    question = str(extra.get("question") or row.get("question") or "").strip()
    reward = row.get("reward_model") if isinstance(row.get("reward_model"), dict) else None
    answers = gold_answers(reward.get("ground_truth")) if reward else answers_of(row)
    answers = [a for a in answers if a.strip()]
    uid = str(extra.get("uid") or row.get("id") or row.get("uid") or "")
    return question, answers, uid


def stable_id(question: str) -> str:
    return "q-" + hashlib.blake2b(question_key(question).encode(), digest_size=6).hexdigest()


def read_questions(path: Path) -> list[Question]:
    """Questions with gold answers from a prepare-data parquet or a JSONL/JSON QA file
    (`question` + `golden_answers` / `answers` / `answer`). Duplicates (same normalised question)
    are kept once; a file with no answered question is an error."""
    from ..data import read_records

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        rows = read_records(path)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: cannot read questions: {exc}") from exc
    items: dict[str, Question] = {}
    unanswered = 0
    for row in rows:
        question, answers, uid = _question_of(row) if isinstance(row, dict) else ("", [], "")
        if not question or not answers:
            unanswered += 1
            continue
        key = question_key(question)
        if key not in items:
            items[key] = Question(id=uid or stable_id(question), question=question, answers=answers)
    if not items:
        raise ValueError(
            f"{path}: none of its {len(rows)} rows has both a question and gold answers "
            "(looked for `question` + `golden_answers`/`answers`/`answer`, or prepare-data's "
            "`extra_info.question` + `reward_model.ground_truth`); the judge needs the answers"
        )
    if unanswered:
        logger.warning("%s: skipped %d rows without a question or gold answers", path, unanswered)
    return list(items.values())

