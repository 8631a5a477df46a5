"""`sft-sim`: fine-tune a simulation LLM on `build-sft` rows with TRL's `SFTTrainer` (LoRA via peft).

Each `messages` row is rendered here through the model's chat template, exactly as the simulator's
engines render a search (`apply_chat_template` with the generation prompt), and handed to TRL as a
plain-text prompt-completion pair: the prompt is that rendering, the completion the rest of the
whole conversation's rendering (the `Doc k:` lines and the end-of-turn token). TRL takes the loss
on the completion only. Rendering here rather than in TRL keeps the trained context byte-identical
to the served one, whichever TRL version tokenizes it (verl 0.9.1 pins trl 0.27, whose
conversational path can misplace the prompt/completion boundary).

One GPU: `serpsim-train sft-sim ...`; several: `accelerate launch --num_processes N -m
serpsim_trainer.cli sft-sim ...` or `torchrun --nproc_per_node N -m serpsim_trainer.cli sft-sim ...`
(DDP: the Trainer shards the batches; only the main process writes the model).
CPU: chosen automatically when no GPU is visible (`use_cpu=True`), or with `--device cpu`.

The output directory is a plain Hugging Face model folder (LoRA merged into the weights,
tokenizer and chat template beside them), which every simulator engine loads as it loads a
released checkpoint: `serpsim-simulator serve --engine transformers|vllm --model DIR`, or a vLLM
OpenAI server for `--engine openai`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

MARKER_FILE = "serpsim_sft.json"

FULL_LR = 1e-6
"""ZeroSearch's simulation tuning (issue #25): full fine-tune, lr 1e-6, batch 2, 1,000 steps."""
LORA_LR = 1e-4
"""LoRA updates a low-rank delta from zero and needs a learning rate ~100x a full fine-tune's."""


@dataclass
class SftOptions:
    model: str
    train_file: Path
    out_dir: Path
    eval_file: Path | None = None
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target: str = "all-linear"
    learning_rate: float | None = None
    batch_size: int = 2
    grad_accum: int = 1
    max_steps: int = 1000
    lr_scheduler: str = "linear"
    warmup: float = 0.0
    max_length: int = 2048
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: str = "float32"
    save_dtype: str = "auto"
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    chat_template: Path | None = None
    progress: bool = True

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return LORA_LR if self.lora else FULL_LR


def render_row(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, str]:
    """One `messages` row -> TRL's plain-text `{"prompt", "completion"}` (see the module docstring)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template(messages, tokenize=False)
    if not whole.startswith(prompt):
        raise ValueError("the chat template renders the conversation differently from its prompt; "
                         "give a template whose generation prompt is the start of the assistant turn")
    completion = whole[len(prompt):]
    # Generation stops at the end-of-turn token, so what a template writes after it (Qwen: a
    # newline) is never generated; ending the completion there also stops TRL appending a second one.
    eos = tokenizer.eos_token
    if eos and completion.rstrip().endswith(eos):
        completion = completion.rstrip()
    return {"prompt": prompt, "completion": completion}


def load_rows(path: Path, tokenizer: Any) -> list[dict[str, str]]:
    """`messages` rows -> TRL plain-text prompt-completion rows; bad rows name their line."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (run build-sft first)")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
                ok = (isinstance(messages, list) and len(messages) >= 2
                      and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages)
                      and messages[-1].get("role") == "assistant" and messages[-1]["content"].strip())
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a `messages` row ({exc})") from exc
            if not ok:
                raise ValueError(f"{path}:{number}: `messages` must end with a non-empty assistant turn")
            rows.append(render_row(tokenizer, messages))
    if not rows:
        raise ValueError(f"{path}: no rows to train on")
    return rows


def _use_cpu(device: str) -> bool:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but no GPU is visible")
    return device == "cpu" or not torch.cuda.is_available()


def build_trainer(opts: SftOptions, stage_dir: Path) -> Any:
    """The configured `SFTTrainer` (not yet trained); checkpoints and logs go to `stage_dir`."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(opts.model)
    if opts.chat_template is not None:
        tokenizer.chat_template = opts.chat_template.read_text()
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{opts.model} has no chat template: give one with --chat-template FILE.jinja "
                         "(the simulator renders every prompt through it)")
    train = Dataset.from_list(load_rows(opts.train_file, tokenizer))
    evaluation = Dataset.from_list(load_rows(opts.eval_file, tokenizer)) if opts.eval_file else None
    cpu = _use_cpu(opts.device)
    bf16 = not cpu and torch.cuda.is_bf16_supported()
    config = SFTConfig(
        output_dir=str(stage_dir),
        max_steps=opts.max_steps,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.grad_accum,
        learning_rate=opts.lr,
        lr_scheduler_type=opts.lr_scheduler,
        warmup_steps=opts.warmup,  # a float in [0, 1) is a share of the steps
        max_length=opts.max_length,
        completion_only_loss=True,
        seed=opts.seed,
        use_cpu=cpu,
        bf16=bf16,
        fp16=False,
        gradient_checkpointing=opts.gradient_checkpointing,
        logging_steps=opts.logging_steps,
        save_strategy="no",
        report_to="none",
        disable_tqdm=not opts.progress,
        model_init_kwargs={"dtype": opts.dtype},
        dataloader_num_workers=0,
    )
    peft_config = None
    if opts.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                                 target_modules=opts.lora_target, task_type="CAUSAL_LM")
    return SFTTrainer(model=opts.model, args=config, train_dataset=train, eval_dataset=evaluation,
                      processing_class=tokenizer, peft_config=peft_config)


def _save_dtype(opts: SftOptions) -> Any:
    """`auto`: the base model's own dtype (a float32 training copy saves as the bf16 it came in)."""
    import torch
    from transformers import AutoConfig

    if opts.save_dtype != "auto":
        return getattr(torch, opts.save_dtype)
    config = AutoConfig.from_pretrained(opts.model)
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def finalize(opts: SftOptions, trained: Path) -> None:
    """`trained` (a full model, or a LoRA adapter) -> a plain model folder at `opts.out_dir`,
    written beside it and renamed into place, so a failed run never leaves half a model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = _save_dtype(opts)
    if opts.lora:
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(trained, dtype=dtype).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(trained, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(trained)
    out = opts.out_dir
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    marker = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()}
    (tmp / MARKER_FILE).write_text(json.dumps({**marker, "learning_rate": opts.lr}, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def run_sft(opts: SftOptions) -> dict[str, Any]:
    """Train, merge (LoRA), save to `opts.out_dir`; returns the training metrics."""
    started = time.monotonic()
    stage_dir = opts.out_dir.with_name(opts.out_dir.name + ".stage")
    trainer = build_trainer(opts, stage_dir)
    result = trainer.train()
    metrics: dict[str, Any] = {"train_loss": float(result.training_loss), "steps": int(result.global_step),
                               "rows": len(trainer.train_dataset)}
    if trainer.eval_dataset is not None:
        metrics["eval_loss"] = float(trainer.evaluate()["eval_loss"])
    trained = stage_dir / "trained"
    trainer.save_model(str(trained))  # gathers sharded weights; writes on the main process only
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        finalize(opts, trained)
        shutil.rmtree(stage_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    metrics["seconds"] = round(time.monotonic() - started, 1)
    return metrics
