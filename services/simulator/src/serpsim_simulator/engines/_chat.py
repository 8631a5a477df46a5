"""Prompt rendering shared by the in-process engines.

ZeroSearch sent each simulation prompt as an empty system message plus one user turn, rendered
through the model's own chat template with the generation prompt appended. The released
simulators were fine-tuned on exactly that string, so every local engine renders it here.
"""

from __future__ import annotations

from typing import Any

from .base import chat_messages


def render_prompt(tokenizer: Any, prompt: str) -> str:
    """The chat-template text the model sees for `prompt`."""
    text = tokenizer.apply_chat_template(chat_messages(prompt), tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):  # pragma: no cover - a template that renders to ids is a misconfigured model
        raise TypeError(f"chat template rendered {type(text).__name__}, expected str")
    return text


def prompt_token_ids(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of the rendered prompt.

    The template already writes any BOS/special tokens it wants, so the tokenizer must not add
    its own (vLLM's chat path does the same).
    """
    return list(tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"])


def eos_token_ids(tokenizer: Any, generation_config: Any | None) -> set[int]:
    """Every id that ends a completion: the generation config's list and the tokenizer's eos."""
    ids: set[int] = set()
    configured = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
