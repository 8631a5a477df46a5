"""`serpsim-train mini-world OUT`: the miniature pipeline's synthetic world (corpus + questions)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from ..mini.world import SIZES

    p = subparsers.add_parser(
        "mini-world", help="write a seeded synthetic world: corpus.jsonl and train/test questions",
        description="Fictional people, organisations and places; single- and two-hop questions split so that no "
        "test question's facts are asked in training; a corpus of passages with near-namesake distractors. "
        "Then: serpsim-train prepare-data --source-dir OUT/qa --train mini --eval mini; "
        "serpsim-simulator index OUT/corpus.jsonl INDEX.",
    )
    p.add_argument("out", type=Path, help="world directory to write (replaced)")
    p.add_argument("--size", choices=sorted(SIZES), default="full", help="full (make mini) or ci (the reduced run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of entities whose facts are held out (default: the size's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..mini.build import write_world
    from ..mini.world import SIZES

    size = SIZES[args.size]
    if args.test_fraction is not None:
        if not 0.0 < args.test_fraction < 1.0:
            sys.stderr.write("mini-world: --test-fraction must be between 0 and 1\n")
            return 2
        size = dataclasses.replace(size, test_fraction=args.test_fraction)
    manifest = write_world(args.out, size, args.seed, size_name=args.size)
    sys.stdout.write(json.dumps(manifest, indent=2) + "\n")
    return 0
