"""`serpsim-train eval`: EM / cover-EM / F1 of a policy on the evaluation sets, any search backend."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any


def add_policy_args(p: argparse.ArgumentParser) -> None:
    from ..evaluate import DEFAULT_RESPONSE_LENGTH

    p.add_argument("--policy-url", help="OpenAI-compatible server base URL (e.g. http://127.0.0.1:8001)")
    p.add_argument("--model", help="model name on that server")
    p.add_argument("--tokenizer", help="the policy's tokenizer directory (default: --model-path, else --model); "
                   "its chat template renders the prompt, as in training")
    p.add_argument("--policy-api-key-env", default=None, help="environment variable with the server's key")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--backend-config", required=True, type=Path,
                   help="search and turn settings: configs/search_tool.yaml-style file (or a bare settings YAML)")
    p.add_argument("--max-turns", type=int, default=None, help="override the file's agent.max_turns")
    p.add_argument("--max-response-tokens", type=int, default=DEFAULT_RESPONSE_LENGTH,
                   help="the trajectory's token budget, documents included (training: data.max_response_length)")


def build_policy(args: argparse.Namespace) -> Any:
    from ..evaluate import LocalPolicy, OpenAIPolicy, load_tokenizer

    if getattr(args, "model_path", None):
        return LocalPolicy(args.model_path)
    if not args.policy_url or not args.model:
        raise ValueError("give --policy-url and --model (or --model-path for ask)")
    tokenizer_path = args.tokenizer or args.model
    try:
        tokenizer = load_tokenizer(tokenizer_path)
    except OSError as exc:
        raise ValueError(f"cannot load the policy's tokenizer from {tokenizer_path!r} (give --tokenizer DIR): {exc}") from exc
    key = os.environ.get(args.policy_api_key_env) if args.policy_api_key_env else None
    return OpenAIPolicy(args.policy_url, args.model, tokenizer, temperature=args.temperature, api_key=key)


def build_searcher(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..search import Searcher, load_search_settings

    settings = load_search_settings(args.backend_config)
    agent = settings.agent
    if args.max_turns is not None:
        agent = agent.model_copy(update={"max_turns": args.max_turns})
    return Searcher(settings), agent


def add_parser(subparsers: Any) -> None:
    from ..data import EVAL_SETS

    p = subparsers.add_parser("eval", help="evaluate a policy served by an OpenAI-compatible server")
    add_policy_args(p)
    p.add_argument("--data", type=Path, default=Path("data/zerosearch"), help="prepare-data output directory")
    p.add_argument("--sets", default=",".join(EVAL_SETS), help="comma list of evaluation sets")
    p.add_argument("--sample", type=int, default=None, help="N questions per set (seeded sample); default: all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--out", required=True, type=Path, help="writes results.json, results.md, predictions_*.jsonl")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import read_eval_set, seeded_sample
    from ..evaluate import evaluate_sets, write_report

    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    try:
        sets = {n: seeded_sample(read_eval_set(args.data, n), args.sample, args.seed) for n in names}
        policy = build_policy(args)
        searcher, agent = build_searcher(args)
    except (FileNotFoundError, ValueError, OSError) as exc:
        sys.stderr.write(f"eval: {exc}\n")
        return 2

    async def main() -> Any:
        try:
            return await evaluate_sets(policy, searcher, sets, agent=agent, response_length=args.max_response_tokens,
                                       concurrency=args.concurrency, progress=not args.no_progress,
                                       predictions_dir=args.out)
        finally:
            await searcher.aclose()
            if hasattr(policy, "aclose"):
                await policy.aclose()

    results = asyncio.run(main())
    meta = {"policy_url": args.policy_url, "model": args.model, "backend": searcher.config.kind,
            "backend_url": searcher.config.base_url, "sample": args.sample, "seed": args.seed,
            "max_turns": agent.max_turns, "max_response_tokens": args.max_response_tokens}
    json_path, md_path = write_report(args.out, results, meta)
    sys.stdout.write(md_path.read_text())
    sys.stdout.write(f"wrote {json_path} and {md_path}\n")
    return 0
