"""`serpsim-train mini-policy WORLD OUT`: warm up a tiny policy on a world's training questions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from ..mini.warmup import WarmupSettings

    defaults = WarmupSettings()
    p = subparsers.add_parser(
        "mini-policy", help="a tiny Qwen2 policy warmed up on the tag protocol over a world's training questions",
        description="Supervised demonstrations: search (the question or its entity), read <information>, quote "
        "the passage and answer; two-hop questions search the bridge entity; some answer without searching.",
    )
    p.add_argument("world", type=Path, help="a `serpsim-train mini-world` directory")
    p.add_argument("out", type=Path, help="model directory to write (replaced)")
    p.add_argument("--copy-steps", type=int, default=defaults.copy_steps,
                   help="steps of the copy stage that precedes the demonstrations (0: none)")
    p.add_argument("--steps", type=int, default=defaults.steps, help="steps of tag-protocol demonstrations")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..mini.warmup import WarmupSettings, warm_up_policy

    if args.steps < 1 or args.batch_size < 1 or args.copy_steps < 0:
        sys.stderr.write("mini-policy: --steps and --batch-size must be >= 1, --copy-steps >= 0\n")
        return 2
    settings = WarmupSettings(copy_steps=args.copy_steps, steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                              seed=args.seed)
    try:
        marker = warm_up_policy(args.world, args.out, settings)
    except (FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"mini-policy: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(marker, indent=2) + "\n")
    return 0
