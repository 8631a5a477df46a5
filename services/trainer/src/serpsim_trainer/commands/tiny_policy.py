"""`serpsim-train tiny-policy DIR`: a tiny warm-started Qwen2 policy for CPU training tests."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tiny-policy",
        help="build a tiny Qwen2 policy that speaks the search/answer tag protocol (tests, demos)",
        description="Random weights in a real Qwen2 architecture, warm-started on CPU (~1 min) to write "
        "<think>..</think><search>..</search> first and <answer>..</answer> after documents.",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--steps", type=int, default=150, help="warm-start steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tiny_policy import build_tiny_policy

    out = build_tiny_policy(args.out_dir, train_steps=args.steps, seed=args.seed)
    sys.stdout.write(f"{out}\n")  # command output
    return 0
