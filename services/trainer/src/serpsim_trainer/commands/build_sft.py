"""`serpsim-train build-sft`: judged pairs -> SFT rows in the simulator's exact `sft` templates, held out by question."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("build-sft", help="build the simulation SFT set (chat rows) and held-out triples")
    p.add_argument("--judged", required=True, type=Path, help="judge's output JSONL")
    p.add_argument("--out", required=True, type=Path,
                   help="directory: sft_train.jsonl, sft_eval.jsonl, triples_train.jsonl, triples_eval.jsonl, split.json")
    p.add_argument("--eval-fraction", type=float, default=0.1, help="share of QUESTIONS held out")
    p.add_argument("--eval-questions", type=Path, default=None,
                   help="questions that must be held out (e.g. an evaluation set's parquet)")
    p.add_argument("--min-documents", type=int, default=5, help="rows with fewer documents are left out")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..simllm.records import JudgedRecord, read_jsonl, read_questions
    from ..simllm.sft_data import build_sft_set

    try:
        records = read_jsonl(args.judged, JudgedRecord)
        forced = [q.question for q in read_questions(args.eval_questions)] if args.eval_questions else []
        summary = build_sft_set(records, args.out, eval_fraction=args.eval_fraction, seed=args.seed,
                                forced_eval=forced, min_documents=args.min_documents)
    except (FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"build-sft: {exc}\n")
        return 2
    sys.stdout.write(json.dumps({**asdict(summary), "out": str(args.out)}, indent=2) + "\n")
    return 0
