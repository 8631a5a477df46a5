"""A tiny Qwen2 *policy* for CPU training tests: random weights, warm-started for about a minute to
speak the tag protocol, so two real GRPO steps exercise search, documents, answer and reward.

What it learns (greedy and sampled): on the first turn `<think>...</think>\\n<search> QUESTION </search>`
(the query is the question itself, so a test can check that each query carries its own sample's
question); after an `<information>...</information>` block, `<think>...</think>\\n<answer> X </answer>`
where X is one of `ANSWERS`, chosen at random during warm-start. Sampled at temperature 1 it
therefore answers some questions right and some wrong, which gives GRPO non-zero advantages.

The tokenizer comes from `serpsim_simulator.tiny_model.build_tokenizer` (Qwen2-compatible BPE,
ChatML template), trained here on the policy's own prompts.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tags import format_question, information_block, instruction_for

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

MARKER_FILE = "serpsim_tiny_policy.json"
ANSWERS: tuple[str, ...] = ("Paris", "London", "Vienna", "Tokyo")
FIRST_NAMES: tuple[str, ...] = (
    "John", "Maria", "Henri", "Sofia", "Kenji", "Amara", "Lucas", "Elena", "Omar", "Greta",
    "Pablo", "Ingrid", "Ravi", "Clara", "Tomas", "Yuki", "Felix", "Nadia", "Victor", "Lena",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Rossi", "Dubois", "Tanaka", "Okafor", "Novak", "Garcia", "Berg", "Kumar", "Weber",
)  # fmt: skip
TEMPLATES: tuple[str, ...] = (
    "where was {name} born",
    "in which city did {name} grow up",
    "where did {name} study",
    "which city is {name} from",
)
_DOC_WORDS: tuple[str, ...] = (
    "the", "city", "was", "born", "in", "studied", "at", "university", "famous", "river", "museum",
    "year", "moved", "family", "lived", "known", "for", "capital", "old", "town", "history", "of",
)  # fmt: skip
THINK_SEARCH = "<think> I need to search for this. </think>\n<search> {query} </search>"
THINK_ANSWER = "<think> The documents answer it. </think>\n<answer> {answer} </answer>"


@dataclass(frozen=True)
class TinyQuestion:
    question: str
    answer: str


def tiny_questions(n: int | None = None, seed: int = 0) -> list[TinyQuestion]:
    """Synthetic questions whose gold answers are drawn from `ANSWERS` (deterministic for a seed)."""
    rng = random.Random(seed)
    items = [
        TinyQuestion(format_question(t.format(name=f"{f} {last}")), rng.choice(ANSWERS))
        for t in TEMPLATES
        for f in FIRST_NAMES
        for last in LAST_NAMES
    ]
    rng.shuffle(items)
    return items if n is None else items[:n]


def _fake_docs(rng: random.Random, n_docs: int = 5) -> str:
    return "\n".join(
        f"Doc {i}: " + " ".join(rng.choice(_DOC_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
        for i in range(1, n_docs + 1)
    )


def prompt_text(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    # The same rendering as the agent loop: the data row's one user message, through the chat template.
    messages = [{"role": "user", "content": instruction_for(question)}]
    return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))


def training_texts(tokenizer: PreTrainedTokenizerBase, item: TinyQuestion, rng: random.Random) -> list[tuple[str, str]]:
    """(context, target) pairs for both turns of one question; the answer is a random `ANSWERS`."""
    first = THINK_SEARCH.format(query=item.question)
    context = prompt_text(tokenizer, item.question)
    second_context = context + first + information_block(_fake_docs(rng))
    answer = THINK_ANSWER.format(answer=rng.choice(ANSWERS))
    eos = tokenizer.eos_token or ""
    return [(context, first), (second_context, answer + eos)]


def build_tiny_policy(
    out_dir: Path, *, train_steps: int = 150, batch_size: int = 8, learning_rate: float = 3e-3, seed: int = 0
) -> Path:
    """Build, warm-start and save the tiny policy to `out_dir` (written to `<out>.tmp`, then renamed)."""
    import torch
    from serpsim_simulator.tiny_model import (
        TinyModelSpec,
        build_tokenizer,
        new_qwen2,
        save_atomically,
        train_on_targets,
    )

    started = time.monotonic()
    out_dir = Path(out_dir)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    spec = TinyModelSpec()
    questions = tiny_questions(seed=seed)

    # The tokenizer's corpus: the policy's own prompts, actions and documents (the template is
    # applied by hand here because there is no tokenizer yet).
    corpus = [
        instruction_for(q.question) + THINK_SEARCH.format(query=q.question) + information_block(_fake_docs(rng))
        + THINK_ANSWER.format(answer=q.answer)
        for q in questions[:400]
    ]
    tokenizer = build_tokenizer(corpus, vocab_size=2048)
    pad_id = tokenizer.convert_tokens_to_ids(tokenizer.pad_token)
    model = new_qwen2(tokenizer, spec)
    pairs = []
    for q in questions:
        for context, target in training_texts(tokenizer, q, rng):
            pairs.append((tokenizer.encode(context, add_special_tokens=False),
                          tokenizer.encode(target, add_special_tokens=False)))
    loss = train_on_targets(
        model, lambda _: rng.sample(pairs, batch_size), pad_id, train_steps, learning_rate,
        warmup_decay=False, label="tiny policy",
    )
    sample = greedy_first_turn(model, tokenizer, questions[0].question)

    marker: dict[str, Any] = {
        "builder": "serpsim_trainer.tiny_policy.build_tiny_policy", "seed": seed, "train_steps": train_steps,
        "final_loss": loss, "answers": list(ANSWERS), "greedy_first_turn": sample,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    save_atomically(model, tokenizer, out_dir, {MARKER_FILE: marker})
    logger.info("tiny policy: saved to %s (loss %.3f, %.0fs); greedy turn 1: %r",
                out_dir, loss, time.monotonic() - started, sample)
    return out_dir


def greedy_first_turn(model: Any, tokenizer: PreTrainedTokenizerBase, question: str, max_new_tokens: int = 48) -> str:
    """The policy's greedy first action for `question` (a sanity check, logged and saved)."""
    import torch

    ids = tokenizer.encode(prompt_text(tokenizer, question), add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False)
    return str(tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True))
