"""`serpsim-train collect`: a policy answers training questions against a search backend; one JSONL
record per search call (the raw material of a simulation-tuning set)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .eval import add_policy_args, build_policy, build_searcher


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("collect", help="collect (query, documents) pairs: a policy searches a real backend")
    add_policy_args(p)
    p.add_argument("--questions", required=True, type=Path,
                   help="training questions: prepare-data parquet, or JSONL/JSON with question + golden_answers")
    p.add_argument("--out", required=True, type=Path, help="output directory (searches.jsonl, episodes.jsonl)")
    p.add_argument("--max-questions", type=int, default=None, help="a seeded sample of N questions (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=8, help="episodes in flight")
    p.add_argument("--deadline", type=float, default=300.0, help="seconds per episode before it counts as failed")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..simllm.collect import collect, pending
    from ..simllm.records import read_questions

    try:
        if args.concurrency < 1 or args.deadline <= 0 or (args.max_questions is not None and args.max_questions < 1):
            raise ValueError("--concurrency and --max-questions must be >= 1, --deadline > 0")
        questions = read_questions(args.questions)
        if args.max_questions is not None and args.max_questions < len(questions):
            questions = random.Random(args.seed).sample(questions, args.max_questions)
        todo = pending(questions, args.out)
        policy = build_policy(args)
        searcher, agent = build_searcher(args)
    except (FileNotFoundError, ValueError, OSError) as exc:
        sys.stderr.write(f"collect: {exc}\n")
        return 2

    async def main() -> Any:
        try:
            return await collect(todo, policy, searcher, args.out, agent=agent, concurrency=args.concurrency,
                                 deadline_s=args.deadline, progress=not args.no_progress)
        finally:
            await searcher.aclose()
            if hasattr(policy, "aclose"):
                await policy.aclose()

    stats = asyncio.run(main())
    report = {**asdict(stats), "already_collected": len(questions) - len(todo), "out": str(args.out)}
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if stats.questions and stats.errors == stats.questions:
        sys.stderr.write(f"collect: every episode failed; first error: {stats.first_error}\n")
        return 1
    return 0
