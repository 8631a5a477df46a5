"""`serpsim-train`: the trainer's console script."""

from __future__ import annotations

import argparse
import importlib
import logging

from .commands import COMMANDS

QUIET_LOGGERS: tuple[str, ...] = ("httpx", "httpcore", "urllib3", "filelock", "asyncio")
"""Third-party loggers that log every request or lock at INFO: warnings only unless --log-level DEBUG."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serpsim-train", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
