"""`serpsim-train judge`: label each collected (query, documents) pair useful or noisy, balance the classes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from ..simllm.judge import JUDGES

    p = subparsers.add_parser("judge", help="label (query, documents) pairs useful/noisy; balanced classes")
    p.add_argument("--records", required=True, type=Path, help="collect's searches.jsonl")
    p.add_argument("--out", required=True, type=Path, help="judged, balanced JSONL")
    p.add_argument("--judge", choices=JUDGES, default="rule",
                   help="rule: gold answer in the documents; llm: an LLM judge; outcome: the trajectory's answer was right")
    p.add_argument("--judge-url", help="llm: OpenAI-compatible server base URL")
    p.add_argument("--judge-model", help="llm: model name on that server")
    p.add_argument("--judge-api-key-env", default=None, help="llm: environment variable with the server's key")
    p.add_argument("--judge-retries", type=int, default=2, help="llm: extra attempts after a garbage reply or error")
    p.add_argument("--judge-max-tokens", type=int, default=16, help="llm: reply tokens (raise for reasoning models)")
    p.add_argument("--max-garbage-rate", type=float, default=0.5,
                   help="llm: fail when more than this share of pairs got no clear verdict")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="seed of the downsampling")
    p.add_argument("--no-balance", action="store_true", help="keep every labelled pair")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..simllm.judge import JudgeFailed, LLMJudge, balance, judge_records, summary
    from ..simllm.records import SearchRecord, read_jsonl, write_jsonl

    try:
        records = read_jsonl(args.records, SearchRecord)
        llm = None
        if args.judge == "llm":
            if not args.judge_url or not args.judge_model:
                raise ValueError("--judge llm needs --judge-url and --judge-model")
            key = os.environ.get(args.judge_api_key_env) if args.judge_api_key_env else None
            llm = LLMJudge(args.judge_url, args.judge_model, retries=args.judge_retries,
                           max_tokens=args.judge_max_tokens, api_key=key)
    except (FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"judge: {exc}\n")
        return 2

    async def main() -> Any:
        try:
            return await judge_records(records, args.judge, llm=llm, concurrency=args.concurrency,
                                       max_garbage_rate=args.max_garbage_rate, progress=not args.no_progress)
        finally:
            if llm is not None:
                await llm.aclose()

    try:
        judged, stats = asyncio.run(main())
        kept = judged if args.no_balance else balance(judged, args.seed)
    except (ValueError, JudgeFailed) as exc:
        sys.stderr.write(f"judge: {exc}\n")
        return 2
    write_jsonl(args.out, kept)
    sys.stdout.write(json.dumps({**summary(stats, kept), "out": str(args.out)}, indent=2) + "\n")
    return 0
