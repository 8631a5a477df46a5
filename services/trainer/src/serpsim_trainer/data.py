"""Question-answering data in verl's parquet format (reference/verl.md §3).

Training: NQ + HotpotQA; evaluation: NQ, TriviaQA, PopQA, HotpotQA, 2WikiMultiHopQA, MuSiQue,
Bamboogle (the splits Search-R1 and ZeroSearch evaluate on). Sources: local JSONL/JSON/parquet
files with `question` and `golden_answers` (or `answers` / `answer`), or, where a network exists,
FlashRAG's hub datasets (the files Search-R1's data scripts read).

Every row: `data_source`, `prompt` (the Search-R1 instruction as one user message), `ability`,
`reward_model={"style": "rule", "ground_truth": {"target": [all gold answers]}}`,
`extra_info={"index", "split", "question", "answers", "uid", "dataset"}`, `agent_name`.
Duplicated questions are merged (their gold answers united); evaluation sets are never truncated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .reward import normalize_answer
from .tags import format_question, instruction_for

logger = logging.getLogger(__name__)

TRAIN_SETS: tuple[str, ...] = ("nq", "hotpotqa")
EVAL_SETS: tuple[str, ...] = ("nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle")

HUB_DATASET = "RUC-NLPIR/FlashRAG_datasets"
"""FlashRAG's collection on the Hugging Face hub: one config per dataset, `golden_answers` lists."""
HUB_EVAL_SPLITS: dict[str, str] = {
    # Search-R1 / ZeroSearch: test where a public test split has answers, else dev.
    "nq": "test", "triviaqa": "test", "popqa": "test", "bamboogle": "test",
    "hotpotqa": "dev", "2wikimultihopqa": "dev", "musique": "dev",
}
LOCAL_EVAL_SPLITS: tuple[str, ...] = ("test", "dev", "validation", "val")
EXTENSIONS: tuple[str, ...] = (".jsonl", ".json", ".parquet")
AGENT_NAME = "zerosearch_agent"
ABILITY = "fact-reasoning"


@dataclass
class QAItem:
    question: str
    answers: list[str] = field(default_factory=list)


def answers_of(record: dict[str, Any]) -> list[str]:
    for key in ("golden_answers", "answers", "answer", "target"):
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, dict):  # e.g. {"target": [...]} or TriviaQA's {"value", "aliases"}
            value = value.get("target") or value.get("aliases") or value.get("value")
        if isinstance(value, str):
            return [value] if value.strip() else []
        if hasattr(value, "tolist"):
            value = value.tolist()
        return [str(v) for v in value if v is not None and str(v).strip()]
    return []


def read_records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict(orient="records")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def find_local_file(source_dir: Path, name: str, splits: Sequence[str]) -> Path:
    """`DIR/name/split.ext`, `DIR/name_split.ext`, `DIR/split/name.ext`, then `DIR/name.ext`."""
    candidates = []
    for split in splits:
        for ext in EXTENSIONS:
            candidates += [source_dir / name / f"{split}{ext}", source_dir / f"{name}_{split}{ext}",
                           source_dir / split / f"{name}{ext}"]
    candidates += [source_dir / f"{name}{ext}" for ext in EXTENSIONS]
    for path in candidates:
        if path.exists():
            return path
    tried = ", ".join(str(p.relative_to(source_dir)) for p in candidates[:6])
    raise FileNotFoundError(f"no {name} ({'/'.join(splits)}) file in {source_dir} (tried {tried}, ...)")


def load_hub(name: str, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("--hub needs the `datasets` package (pip install datasets)") from exc
    ds = datasets.load_dataset(HUB_DATASET, name, split=split)
    return [dict(r) for r in ds]


def to_items(records: Iterable[dict[str, Any]], source: str) -> list[QAItem]:
    """Drop records without a question or answers (logged), merge duplicates keeping every answer."""
    items: dict[str, QAItem] = {}
    skipped = 0
    for record in records:
        question, answers = str(record.get("question") or "").strip(), answers_of(record)
        if not question or not answers:
            skipped += 1
            continue
        key = normalize_answer(question)
        if key in items:
            known = items[key].answers
            known.extend(a for a in answers if a not in known)
        else:
            items[key] = QAItem(question=question, answers=list(dict.fromkeys(answers)))
    if skipped:
        logger.warning("%s: skipped %d records without a question or gold answers", source, skipped)
    return list(items.values())


def load_set(name: str, role: str, *, source_dir: Path | None = None, hub: bool = False) -> list[QAItem]:
    if hub:
        split = "train" if role == "train" else HUB_EVAL_SPLITS[name]
        return to_items(load_hub(name, split), f"{HUB_DATASET}/{name}/{split}")
    if source_dir is None:
        raise ValueError("give --source-dir DIR (local files) or --hub")
    splits = ("train",) if role == "train" else LOCAL_EVAL_SPLITS
    path = find_local_file(source_dir, name, splits)
    return to_items(read_records(path), str(path))


def make_row(dataset: str, split: str, index: int, item: QAItem) -> dict[str, Any]:
    return {
        "data_source": dataset,
        "prompt": [{"role": "user", "content": instruction_for(item.question)}],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": {"target": list(item.answers)}},
        "extra_info": {
            "index": index,
            "split": split,
            "dataset": dataset,
            "question": format_question(item.question),
            "answers": list(item.answers),
            "uid": f"{dataset}-{split}-{index}",
        },
        "agent_name": AGENT_NAME,
    }


def build_rows(sets: dict[str, list[QAItem]], split: str, *, dedupe_across: bool) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for dataset, items in sets.items():
        index = 0
        for item in items:
            key = normalize_answer(item.question)
            if dedupe_across and key in seen:
                continue
            seen.add(key)
            rows.append(make_row(dataset, split, index, item))
            index += 1
    return rows


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def prepare(
    out: Path,
    *,
    train: Sequence[str] = TRAIN_SETS,
    eval_sets: Sequence[str] = EVAL_SETS,
    source_dir: Path | None = None,
    hub: bool = False,
) -> dict[str, int]:
    """Write `train.parquet`, `test.parquet` (all evaluation sets) and `test_<set>.parquet`.

    Returns row counts per written file name.
    """
    unknown = sorted(set(train) - set(EVAL_SETS)) + sorted(set(eval_sets) - set(EVAL_SETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; known: {', '.join(EVAL_SETS)}")
    counts: dict[str, int] = {}
    if train:
        train_sets = {name: load_set(name, "train", source_dir=source_dir, hub=hub) for name in train}
        rows = build_rows(train_sets, "train", dedupe_across=True)
        write_parquet(rows, out / "train.parquet")
        counts["train.parquet"] = len(rows)
    if eval_sets:
        eval_rows: list[dict[str, Any]] = []
        for name in eval_sets:
            rows = build_rows({name: load_set(name, "test", source_dir=source_dir, hub=hub)}, "test", dedupe_across=False)
            write_parquet(rows, out / f"test_{name}.parquet")
            counts[f"test_{name}.parquet"] = len(rows)
            eval_rows += rows
        write_parquet(eval_rows, out / "test.parquet")
        counts["test.parquet"] = len(eval_rows)
    return counts


def read_eval_set(data_dir: Path, name: str) -> list[dict[str, Any]]:
    """Rows of one evaluation set written by `prepare`."""
    import pandas as pd

    return pd.read_parquet(data_dir / f"test_{name}.parquet").to_dict(orient="records")
