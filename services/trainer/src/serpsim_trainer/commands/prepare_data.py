"""`serpsim-train prepare-data`: write verl parquet for training and the seven evaluation sets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _names(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def add_parser(subparsers: Any) -> None:
    from ..data import EVAL_SETS, TRAIN_SETS, VAL_SAMPLE, VAL_SEED

    p = subparsers.add_parser("prepare-data", help="write verl parquet (train + evaluation sets)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--train", type=_names, default=list(TRAIN_SETS), help="training sets (comma list; '' for none)")
    p.add_argument("--eval", type=_names, default=list(EVAL_SETS), help="evaluation sets (comma list; '' for none)")
    p.add_argument("--val-sample", type=int, default=VAL_SAMPLE,
                   help="questions per evaluation set in val.parquet, verl's validation set (0: whole sets)")
    p.add_argument("--val-seed", type=int, default=VAL_SEED)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--source-dir", type=Path,
                     help="local files, any set name: NAME/train.jsonl, NAME_test.jsonl, NAME.parquet ...")
    src.add_argument("--hub", action="store_true", help="download FlashRAG's datasets (needs network + `datasets`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import prepare

    try:
        result = prepare(args.out, train=args.train, eval_sets=args.eval, source_dir=args.source_dir, hub=args.hub,
                         val_sample=args.val_sample or None, val_seed=args.val_seed)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        sys.stderr.write(f"prepare-data: {exc}\n")
        return 2
    for name, n in result.counts.items():
        note = ""
        if name == "train.parquet" and result.merged_train_duplicates:
            k = result.merged_train_duplicates
            note = f" ({k} duplicate question{'s' if k != 1 else ''} merged)"
        sys.stdout.write(f"{args.out / name}\t{n} rows{note}\n")
    return 0
