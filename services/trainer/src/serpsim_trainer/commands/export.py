"""`serpsim-train export CKPT_DIR OUT_DIR`: a verl checkpoint -> a Hugging Face model directory."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="turn a verl checkpoint into a Hugging Face model directory (verl's model merger)",
        description="CKPT_DIR may be a run directory, its checkpoints/, a global_step_N/ or global_step_N/actor/; "
        "above global_step_N the newest step is exported.",
    )
    parser.add_argument("checkpoint", type=Path, metavar="CKPT_DIR")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import CheckpointNotFound, export_checkpoint

    try:
        out = export_checkpoint(args.checkpoint, args.out_dir)
    except CheckpointNotFound as exc:
        logger.error("%s", exc)
        return 2
    sys.stdout.write(f"{out}\n")  # command output
    return 0
