"""`serpsim-train sft-sim`: fine-tune a simulation LLM on build-sft rows (TRL SFTTrainer; LoRA via peft)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from ..simllm.finetune import FULL_LR, LORA_LR

    p = subparsers.add_parser("sft-sim", help="fine-tune a simulation LLM (full or LoRA, CPU or GPUs)")
    p.add_argument("--model", required=True, help="base model: local directory or hub id")
    p.add_argument("--data", required=True, type=Path, help="build-sft's sft_train.jsonl")
    p.add_argument("--eval-data", type=Path, default=None, help="build-sft's sft_eval.jsonl (eval loss at the end)")
    p.add_argument("--out", required=True, type=Path, help="output model directory (loads in every simulator engine)")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft) and merge it into the weights")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--lora-target", default="all-linear", help="peft target_modules")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default: {FULL_LR:g} full, as ZeroSearch; {LORA_LR:g} LoRA)")
    p.add_argument("--batch-size", type=int, default=2, help="per device (ZeroSearch: 2)")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=1000, help="optimizer steps (ZeroSearch: 1,000)")
    p.add_argument("--lr-scheduler", default="linear")
    p.add_argument("--warmup", type=float, default=0.0, help="warm-up steps, or a share of the steps if < 1")
    p.add_argument("--max-length", type=int, default=2048, help="tokens per row (prompt + documents)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: the GPUs if any are visible, else the CPU")
    p.add_argument("--dtype", default="float32", help="weights while training (mixed bf16 compute on GPUs)")
    p.add_argument("--save-dtype", default="auto", help="weights saved (auto: the base model's dtype)")
    p.add_argument("--no-gradient-checkpointing", action="store_true", help="faster, more memory (small models)")
    p.add_argument("--logging-steps", type=int, default=10)
    p.add_argument("--chat-template", type=Path, default=None, help="a .jinja chat template for a base model without one")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..simllm.finetune import SftOptions, run_sft

    if args.max_steps < 1 or args.batch_size < 1 or args.grad_accum < 1:
        sys.stderr.write("sft-sim: --max-steps, --batch-size and --grad-accum must be >= 1\n")
        return 2
    opts = SftOptions(
        model=args.model, train_file=args.data, eval_file=args.eval_data, out_dir=args.out, lora=args.lora,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, lora_target=args.lora_target,
        learning_rate=args.lr, batch_size=args.batch_size, grad_accum=args.grad_accum, max_steps=args.max_steps,
        lr_scheduler=args.lr_scheduler, warmup=args.warmup, max_length=args.max_length, seed=args.seed,
        device=args.device, dtype=args.dtype, save_dtype=args.save_dtype,
        gradient_checkpointing=not args.no_gradient_checkpointing, logging_steps=args.logging_steps,
        chat_template=args.chat_template, progress=not args.no_progress,
    )
    try:
        metrics = run_sft(opts)
    except (FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"sft-sim: {exc}\n")
        return 2
    if int(os.environ.get("RANK", "0")) == 0:  # one report under accelerate / torchrun, not one per process
        sys.stdout.write(json.dumps({**metrics, "out": str(args.out)}, indent=2) + "\n")
    return 0
