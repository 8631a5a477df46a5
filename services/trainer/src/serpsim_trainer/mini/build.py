"""Write a world directory, the input of the rest of the miniature pipeline:

    corpus.jsonl              the passages, `{id, title, text}`: `serpsim-simulator index` reads it
    qa/mini/train.jsonl       training questions  } `{question, golden_answers, ...}`: what
    qa/mini/test.jsonl        held-out questions  } `serpsim-train prepare-data --source-dir qa` reads
    world.json                entities, facts (with the passages that state them), the held-out entities
    manifest.json             seed, size, counts; written last: a directory without it is incomplete

The directory is written beside its final path and renamed into place, so an interrupted build
leaves nothing that looks finished.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .passages import Corpus, build_corpus
from .questions import Question, Questions, split_questions
from .world import World, WorldSize, build_world

DATASET = "mini"
"""The question set's name for `prepare-data` (`--train mini --eval mini`)."""
MANIFEST = "manifest.json"
CORPUS_FILE = "corpus.jsonl"
WORLD_FILE = "world.json"


def qa_record(q: Question) -> dict[str, Any]:
    return {"id": q.id, "question": q.question, "golden_answers": [q.answer], "template": q.template,
            "hops": q.hops, "entity": q.entity, "bridge": q.bridge, "facts": list(q.facts)}


def world_record(world: World, corpus: Corpus, questions: Questions) -> dict[str, Any]:
    return {
        "seed": world.seed,
        "size": asdict(world.size),
        "held_out": sorted(questions.held_out),
        "entities": [{"name": e.name, "kind": e.kind, "attrs": e.attrs, "distractor_of": e.distractor_of}
                     for e in world.entities.values()],
        "facts": [{"id": f.id, "subject": f.subject, "relation": f.relation, "value": f.value,
                   "passages": corpus.sources(f.id)} for f in world.facts.values()],
        "passages": {p.id: {"entity": p.entity, "distractor": p.distractor} for p in corpus.passages},
    }


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_world(out: Path, size: WorldSize, seed: int = 0, *, size_name: str = "custom") -> dict[str, Any]:
    """Build the world for (`size`, `seed`) and write it to `out` (replacing it); returns the manifest."""
    world = build_world(size, seed)
    corpus = build_corpus(world)
    questions = split_questions(world)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    _write_jsonl(tmp / CORPUS_FILE, [p.record() for p in corpus.passages])
    _write_jsonl(tmp / "qa" / DATASET / "train.jsonl", [qa_record(q) for q in questions.train])
    _write_jsonl(tmp / "qa" / DATASET / "test.jsonl", [qa_record(q) for q in questions.test])
    (tmp / WORLD_FILE).write_text(json.dumps(world_record(world, corpus, questions), ensure_ascii=False) + "\n")
    kinds = Counter(e.kind for e in world.entities.values() if not e.is_distractor)
    manifest = {
        "seed": seed, "size": size_name, "dataset": DATASET,
        "entities": dict(kinds), "distractors": sum(e.is_distractor for e in world.entities.values()),
        "passages": len(corpus.passages),
        "train_questions": len(questions.train), "test_questions": len(questions.test),
        "dropped_questions": questions.dropped,
        "test_by_hops": dict(Counter(str(q.hops) for q in questions.test)),
        "train_by_hops": dict(Counter(str(q.hops) for q in questions.train)),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return manifest


def read_questions(world_dir: Path, split: str) -> list[dict[str, Any]]:
    """The QA records of one split (`train` or `test`) of a written world."""
    path = Path(world_dir) / "qa" / DATASET / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_corpus(world_dir: Path) -> dict[str, dict[str, str]]:
    """Passages of a written world by id."""
    path = Path(world_dir) / CORPUS_FILE
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["id"]: r for r in records}


def read_world(world_dir: Path) -> dict[str, Any]:
    path = Path(world_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{world_dir}: no {MANIFEST} (not a world directory, or its build was interrupted)")
    return dict(json.loads((Path(world_dir) / WORLD_FILE).read_text(encoding="utf-8")))
