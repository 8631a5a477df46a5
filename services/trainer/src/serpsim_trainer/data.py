"""Question-answering data in verl's parquet format (reference/verl.md §3).

Training: NQ + HotpotQA; evaluation: NQ, TriviaQA, PopQA, HotpotQA, 2WikiMultiHopQA, MuSiQue,
Bamboogle (the splits Search-R1 and ZeroSearch evaluate on), or any other set found in the source
directory. Sources: local JSONL/JSON/parquet files with `question` and `golden_answers` (or
`answers` / `answer`), or, where a network exists, FlashRAG's hub datasets (the files Search-R1's
data scripts read).

Every row: `data_source`, `prompt` (the Search-R1 instruction as one user message), `ability`,
`reward_model={"style": "rule", "ground_truth": {"target": [all gold answers]}}`,
`extra_info={"index", "split", "question", "answers", "uid", "dataset"}`, `agent_name`.
Training questions that normalise to the same text are merged (their gold answers united; the
count is reported). Evaluation sets keep every source row, one to one, never truncated; verl
validates on `val.parquet`, a seeded sample of each set.
"""

from __future__ import annotations

import json
import logging
import random
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
VAL_SAMPLE = 500
"""Questions per evaluation set in `val.parquet` (verl's validation during training)."""
VAL_SEED = 0


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
    """One item per record with a question and gold answers (the others are skipped, and logged)."""
    items, skipped = [], 0
    for record in records:
        question, answers = str(record.get("question") or "").strip(), answers_of(record)
        if not question or not answers:
            skipped += 1
            continue
        items.append(QAItem(question=question, answers=list(dict.fromkeys(answers))))
    if skipped:
        logger.warning("%s: skipped %d records without a question or gold answers", source, skipped)
    return items


def merge_duplicates(items: Iterable[QAItem]) -> tuple[list[QAItem], int]:
    """Training only: items whose questions normalise to the same text become one, answers united.
    Returns the items and how many were merged away."""
    merged: dict[str, QAItem] = {}
    n = 0
    for item in items:
        key = normalize_answer(item.question)
        if key in merged:
            known = merged[key].answers
            known.extend(a for a in item.answers if a not in known)
            n += 1
        else:
            merged[key] = QAItem(question=item.question, answers=list(item.answers))
    return list(merged.values()), n


def load_set(name: str, role: str, *, source_dir: Path | None = None, hub: bool = False) -> list[QAItem]:
    if hub:
        if role != "train" and name not in HUB_EVAL_SPLITS:
            raise ValueError(f"--hub knows the evaluation split of {', '.join(HUB_EVAL_SPLITS)}, not {name!r}; "
                             "use --source-dir for other sets")
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


def build_train_rows(sets: dict[str, list[QAItem]]) -> tuple[list[dict[str, Any]], int]:
    """Training rows with duplicates merged within a set and dropped across sets (the first set's
    row stays). Returns the rows and the number of duplicate questions merged or dropped."""
    rows, seen, merged = [], set(), 0
    for dataset, items in sets.items():
        unique, n = merge_duplicates(items)
        merged += n
        index = 0
        for item in unique:
            key = normalize_answer(item.question)
            if key in seen:
                merged += 1
                continue
            seen.add(key)
            rows.append(make_row(dataset, "train", index, item))
            index += 1
    return rows, merged


def build_eval_rows(dataset: str, items: list[QAItem]) -> list[dict[str, Any]]:
    """One row per source record, in source order."""
    return [make_row(dataset, "test", index, item) for index, item in enumerate(items)]


def seeded_sample(rows: list[dict[str, Any]], n: int | None, seed: int = VAL_SEED) -> list[dict[str, Any]]:
    """A seeded sample of `n` rows, in their original order (all rows when `n` is None or larger)."""
    if n is None or n >= len(rows):
        return list(rows)
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


@dataclass
class Prepared:
    counts: dict[str, int] = field(default_factory=dict)
    """Rows per written file name."""
    merged_train_duplicates: int = 0


def prepare(
    out: Path,
    *,
    train: Sequence[str] = TRAIN_SETS,
    eval_sets: Sequence[str] = EVAL_SETS,
    source_dir: Path | None = None,
    hub: bool = False,
    val_sample: int | None = VAL_SAMPLE,
    val_seed: int = VAL_SEED,
) -> Prepared:
    """Write `train.parquet`; `test_<set>.parquet` per evaluation set and `test.parquet` (all of them),
    every source row; `val.parquet`, `val_sample` rows of each set (seeded) for verl's validation."""
    result = Prepared()
    if train:
        train_sets = {name: load_set(name, "train", source_dir=source_dir, hub=hub) for name in train}
        rows, result.merged_train_duplicates = build_train_rows(train_sets)
        write_parquet(rows, out / "train.parquet")
        result.counts["train.parquet"] = len(rows)
    if eval_sets:
        eval_rows: list[dict[str, Any]] = []
        val_rows: list[dict[str, Any]] = []
        for name in eval_sets:
            rows = build_eval_rows(name, load_set(name, "test", source_dir=source_dir, hub=hub))
            write_parquet(rows, out / f"test_{name}.parquet")
            result.counts[f"test_{name}.parquet"] = len(rows)
            eval_rows += rows
            val_rows += seeded_sample(rows, val_sample, val_seed)
        write_parquet(eval_rows, out / "test.parquet")
        result.counts["test.parquet"] = len(eval_rows)
        write_parquet(val_rows, out / "val.parquet")
        result.counts["val.parquet"] = len(val_rows)
    return result


def read_eval_set(data_dir: Path, name: str) -> list[dict[str, Any]]:
    """Rows of one evaluation set written by `prepare`."""
    import pandas as pd

    return pd.read_parquet(data_dir / f"test_{name}.parquet").to_dict(orient="records")
