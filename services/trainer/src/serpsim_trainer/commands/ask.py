"""`serpsim-train ask "question"`: one question through the tag protocol, printing every search."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .eval import add_policy_args, build_policy, build_searcher


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("ask", help="answer one question with a policy, printing each search")
    p.add_argument("question")
    add_policy_args(p)
    p.add_argument("--model-path", help="a local Hugging Face model directory instead of --policy-url")
    p.add_argument("--answer", action="append", default=[], help="gold answer(s): also print the scores")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluate import run_episode
    from ..turns import Turn

    try:
        policy = build_policy(args)
        searcher, agent = build_searcher(args)
    except (FileNotFoundError, ValueError, OSError) as exc:
        sys.stderr.write(f"ask: {exc}\n")
        return 2

    def show(turn: Turn) -> None:
        sys.stdout.write(f"\n--- policy ---\n{turn.text}\n")
        if turn.search is not None:
            sys.stdout.write(f"--- search: {turn.content!r} ({'ok' if turn.search.ok else 'FAILED'}) ---\n")
            sys.stdout.write(f"{turn.search.text}\n")
        elif turn.action == "invalid" and turn.observation is not None:
            sys.stdout.write("--- invalid action ---\n")

    async def main() -> Any:
        try:
            return await run_episode(policy, searcher, args.question, answers=args.answer, agent=agent,
                                     response_length=args.max_response_tokens, on_turn=show)
        finally:
            await searcher.aclose()
            if hasattr(policy, "aclose"):
                await policy.aclose()

    episode = asyncio.run(main())
    sys.stdout.write(f"\nanswer: {episode.prediction if episode.prediction is not None else '(none)'}\n")
    sys.stdout.write(f"searches: {episode.searches} (failed: {episode.search_failures})\n")
    if args.answer:
        sys.stdout.write(" ".join(f"{k}={v:.3f}" for k, v in episode.scores.items()) + "\n")
    return 0



