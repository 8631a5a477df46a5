"""`serpsim-train mini-probe POLICY WORLD`: held-out accuracy given gold passages, random ones, or none."""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "mini-probe", help="does a policy read what it retrieves? held-out questions with gold vs random passages",
    )
    p.add_argument("policy", type=Path, help="the policy's model directory")
    p.add_argument("world", type=Path, help="its `serpsim-train mini-world` directory")
    p.add_argument("--questions", type=int, default=200, help="a seeded sample of N held-out questions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..mini.build import read_questions
    from ..mini.probe import probe

    try:
        questions = read_questions(args.world, "test")
    except FileNotFoundError as exc:
        sys.stderr.write(f"mini-probe: {exc}\n")
        return 2
    if args.questions < len(questions):
        questions = random.Random(args.seed).sample(questions, args.questions)
    results = [asdict(r) for r in probe(args.policy, args.world, questions, seed=args.seed)]
    text = json.dumps({"questions": len(questions), "results": results}, indent=2) + "\n"
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    sys.stdout.write(text)
    return 0
