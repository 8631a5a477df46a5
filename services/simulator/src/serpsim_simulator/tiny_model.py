"""A tiny Qwen2 simulation model built locally, for tests and `make serve` demos (no model hub).

`build_tiny_model` trains a byte-level BPE tokenizer on synthetic simulation prompts, builds a
~1M-parameter `Qwen2ForCausalLM` with random weights, and trains it briefly on CPU to answer the
ZeroSearch prompts with five `Doc k: ...` lines. It learns the output format (and the facts it was
trained on), not to follow an unfamiliar query's content. The folder it writes loads through the
same code a user runs with a real checkpoint: `AutoTokenizer`, `AutoModelForCausalLM`, vLLM.

`build_tokenizer` is reusable (the trainer builds its tiny policy model with it): it mirrors
Qwen2's normaliser and pre-tokenizer so that ids survive a reload as `Qwen2Tokenizer`, which is
what transformers 5 uses for any folder whose config says `model_type=qwen2`.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serpsim_protocol import Quality
from serpsim_protocol.prompts import DOCS_PER_GENERATION, PromptMode, build_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS: tuple[str, ...] = (ENDOFTEXT, IM_START, IM_END)

MARKER_FILE = "serpsim_tiny_model.json"

# transformers' Qwen2Tokenizer (models/qwen2/tokenization_qwen2.py) rebuilds the pipeline with this
# split pattern and an NFC normaliser whatever the saved tokenizer.json says: train with the same.
QWEN2_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# Qwen2-style ChatML, except that every message is rendered as given: no default system prompt is
# injected, and an empty system message still renders (ZeroSearch sent one).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] if message['content'] is string else '')"
    " + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

DEFAULT_EXTRA_TEXTS: tuple[str, ...] = (
    "<think>",
    "</think>",
    "<search>",
    "</search>",
    "<information>",
    "</information>",
    "<answer>",
    "</answer>",
    "Doc 1:",
    "Doc 2:",
    "Doc 3:",
    "Doc 4:",
    "Doc 5:",
)
"""Plain-text strings added to every tokenizer corpus (repeated, so BPE learns them as units)."""


@dataclass(frozen=True)
class TinyModelSpec:
    """Architecture of the tiny model: ~0.9M parameters, head_dim 32 (vLLM's CPU attention needs 32k)."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    vocab_size: int = 4096  # tokenizer's target size; the model uses the tokenizer's real length
    tie_word_embeddings: bool = True


@dataclass(frozen=True)
class SimExample:
    """One synthetic simulation call: the inputs to `build_prompt` and the five documents."""

    query: str
    quality: Quality
    mode: PromptMode
    question: str | None
    answer: str | None
    docs: tuple[str, ...]

    def prompt(self) -> str:
        return build_prompt(self.query, self.quality, self.mode, self.question, self.answer)

    def target(self) -> str:
        return "\n".join(f"Doc {i}: {doc}" for i, doc in enumerate(self.docs, start=1))


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """The conversation ZeroSearch sent: an empty system message and one user turn."""
    return [{"role": "system", "content": ""}, {"role": "user", "content": prompt}]


# --------------------------------------------------------------------------------------------
# Tokenizer


def build_tokenizer(
    corpus: Iterable[str],
    vocab_size: int = 4096,
    *,
    extra_texts: Iterable[str] = DEFAULT_EXTRA_TEXTS,
    extra_repeats: int = 50,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """Train a Qwen2-compatible byte-level BPE on `corpus` and wrap it with a ChatML template.

    Special tokens `<|endoftext|>` (pad), `<|im_start|>`, `<|im_end|>` (eos) get ids 0, 1, 2.
    `extra_texts` (tags such as `<search>`) are plain text, not special tokens: they are added to
    the corpus `extra_repeats` times so that BPE merges them into few tokens.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(
        BPE(
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    extras = list(extra_texts)

    def texts() -> Iterable[str]:
        yield from corpus
        for _ in range(extra_repeats):
            yield from extras

    tokenizer.train_from_iterator(texts(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        chat_template=CHATML_TEMPLATE,
        model_max_length=TinyModelSpec.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )


# --------------------------------------------------------------------------------------------
# Synthetic data

_ENTITIES: tuple[str, ...] = (
    "Eiffel Tower", "Golden Gate Bridge", "Amazon River", "Mount Kilimanjaro", "Great Wall of China",
    "Sydney Opera House", "Lake Baikal", "Sahara Desert", "Panama Canal", "Hoover Dam",
    "Marie Curie", "Isaac Newton", "Ada Lovelace", "Nikola Tesla", "Leonardo da Vinci",
    "Jane Austen", "Ludwig van Beethoven", "Frida Kahlo", "Albert Einstein", "Charles Darwin",
    "Mona Lisa", "Hubble Space Telescope", "Apollo 11", "Berlin Wall", "Taj Mahal",
    "Colosseum", "Machu Picchu", "Statue of Liberty", "Big Ben", "Niagara Falls",
    "Titanic", "Wright Flyer", "Rosetta Stone", "Magna Carta", "Olympic Games",
    "Nobel Prize", "World Wide Web", "Python language", "Suez Canal", "Louvre Museum",
    "Danube River", "Mount Fuji", "Grand Canyon", "Yellowstone Park", "Kremlin",
    "Acropolis", "Stonehenge", "Angkor Wat", "Petra", "Alhambra",
    "Hagia Sophia", "Brooklyn Bridge", "Empire State Building", "Burj Khalifa", "CN Tower",
)  # fmt: skip

_FIRST_NAMES: tuple[str, ...] = (
    "John", "Maria", "Henri", "Sofia", "Kenji", "Amara", "Lucas", "Elena", "Omar", "Greta",
    "Pablo", "Ingrid", "Ravi", "Clara", "Tomas", "Yuki", "Felix", "Nadia", "Victor", "Lena",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Rossi", "Dubois", "Tanaka", "Okafor", "Novak", "Garcia", "Berg", "Kumar", "Weber",
    "Silva", "Moreau", "Jensen", "Costa", "Fischer", "Ivanov", "Hughes", "Lindqvist", "Park", "Mendes",
)  # fmt: skip
_PLACES: tuple[str, ...] = (
    "Paris", "London", "Vienna", "Cairo", "Lima", "Tokyo", "Oslo", "Lisbon", "Prague", "Nairobi",
    "Toronto", "Madrid", "Athens", "Dublin", "Seoul", "Geneva", "Rome", "Berlin", "Boston", "Delhi",
)  # fmt: skip


def _year(rng: random.Random) -> str:
    return str(rng.randint(1450, 2020))


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"


def _number(rng: random.Random) -> str:
    return f"{rng.randint(2, 999)} meters"


# (query pattern, question pattern, attribute phrase, answer maker)
_ASPECTS: tuple[tuple[str, str, str, str], ...] = (
    ("{e} opening year", "When did the {e} open?", "opening year", "year"),
    ("when was {e} built", "In which year was the {e} built?", "construction date", "year"),
    ("who designed {e}", "Who designed the {e}?", "designer", "person"),
    ("{e} founder", "Who founded the {e}?", "founder", "person"),
    ("where is {e} located", "In which city is the {e}?", "location", "place"),
    ("{e} height", "How tall is the {e}?", "height", "number"),
    ("{e} history", "What is the history of the {e}?", "early history", "year"),
    ("{e} birthplace", "Where was {e} born?", "birthplace", "place"),
    ("famous facts about {e}", "What is {e} famous for?", "fame", "place"),
    ("{e} first visitor", "Who was the first visitor of the {e}?", "first visitor", "person"),
)

_USEFUL_DOCS: tuple[str, ...] = (
    "The {e} is well known for its {a}, and records show that the answer is {ans}. Historians agree on this fact about {q}.",
    "According to official sources on {q}, the {a} of the {e} is {ans}, a detail confirmed by many reference books.",
    "{ans} is the accepted answer regarding the {a} of the {e}. Encyclopedias and museum guides describe it in detail.",
    "Researchers studying the {e} note that its {a} is {ans}. This information is widely cited in articles about {q}.",
    "A short guide to {q}: the {e} has a {a} of {ans}, which visitors and students often look up first.",
    "The {a} of the {e}, {ans}, is documented in archives and reported by historians, travel guides and news articles.",
    "Many sources about the {e} explain its {a} clearly: {ans}. The story of {q} is told in several books.",
    "For anyone asking about {q}, the key fact is that the {e} is linked to {ans}, its well documented {a}.",
)
_USEFUL_DOCS_NO_ANSWER: tuple[str, ...] = (
    "The {e} is well known for its {a}. Historians and reference books describe {q} in detail for students and visitors.",
    "Official sources on {q} describe the {a} of the {e} and explain why it matters to the history of the region.",
    "Researchers studying the {e} have written about its {a}, and this information is widely cited in articles about {q}.",
    "A short guide to {q}: the {e} and its {a} are covered by encyclopedias, museum guides and travel books.",
    "The {a} of the {e} is documented in archives and reported by historians, travel guides and news articles.",
    "Many sources about the {e} explain its {a} clearly, and the story of {q} is told in several popular books.",
)
_NOISY_DOCS: tuple[str, ...] = (
    "The {e} is often confused with other famous sites, and debates about its {a} continue among local experts and online forums.",
    "Some travel blogs about {q} focus on ticket prices, crowds and nearby restaurants rather than the {a} of the {e}.",
    "Rumors about the {e} have spread for decades, and several claims about its {a} were later shown to be misleading.",
    "Discussions of {q} sometimes mix up the {e} with a different landmark, which leads to confusion about its {a}.",
    "The {e} has been the subject of films, songs and souvenirs, but these works say little about its real {a}.",
    "Critics argue that the popular story of the {e} is exaggerated, and many details about {q} remain disputed today.",
    "Weather, traffic and tourism around the {e} are common topics, though they are unrelated to questions about its {a}.",
    "An old newspaper article about {q} gave a different account of the {e}, adding to the uncertainty about its {a}.",
)


def _make_answer(kind: str, rng: random.Random) -> str:
    if kind == "year":
        return _year(rng)
    if kind == "person":
        return _person(rng)
    if kind == "place":
        return rng.choice(_PLACES)
    return _number(rng)


def synthetic_examples(
    n: int,
    seed: int = 0,
    entities: Sequence[str] = _ENTITIES,
    prompt_mode_share: float = 0.3,
) -> list[SimExample]:
    """`n` deterministic simulation calls mixing sft/prompt modes, useful/noisy, hints or none."""
    rng = random.Random(seed)
    examples: list[SimExample] = []
    for _ in range(n):
        entity = rng.choice(entities)
        query_pattern, question_pattern, aspect, kind = rng.choice(_ASPECTS)
        query = query_pattern.format(e=entity)
        answer = _make_answer(kind, rng)
        quality: Quality = rng.choice(("useful", "noisy"))
        mode: PromptMode = "prompt" if rng.random() < prompt_mode_share else "sft"
        hint = rng.random()
        question = question_pattern.format(e=entity) if hint < 0.6 else None
        given_answer = answer if hint < 0.4 else None
        if quality == "useful":
            pool = _USEFUL_DOCS if given_answer is not None or rng.random() < 0.5 else _USEFUL_DOCS_NO_ANSWER
        else:
            pool = _NOISY_DOCS
        templates = rng.sample(pool, DOCS_PER_GENERATION)
        docs = tuple(t.format(e=entity, a=aspect, q=query, ans=answer) for t in templates)
        examples.append(SimExample(query, quality, mode, question, given_answer, docs))
    return examples


# --------------------------------------------------------------------------------------------
# Model


def _render_pair(tokenizer: PreTrainedTokenizerFast, example: SimExample) -> tuple[list[int], list[int]]:
    prompt_text = tokenizer.apply_chat_template(
        chat_messages(example.prompt()), tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(example.target() + IM_END, add_special_tokens=False)["input_ids"]
    return prompt_ids, target_ids


def build_tiny_model(
    out_dir: Path,
    *,
    train_steps: int = 200,
    seed: int = 0,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    spec: TinyModelSpec | None = None,
) -> Path:
    """Build, train and save the tiny simulation model to `out_dir`; returns `out_dir`.

    Written in a sibling `<name>.tmp` folder and renamed into place, so a crashed build never
    leaves a half model at `out_dir`. An existing `out_dir` is replaced.
    """
    import torch

    spec = spec or TinyModelSpec()
    out_dir = Path(out_dir)
    started = time.monotonic()
    random.seed(seed)
    torch.manual_seed(seed)

    n_examples = (train_steps + 8) * batch_size
    examples = synthetic_examples(n_examples, seed=seed)
    corpus = [ex.prompt() + "\n" + ex.target() for ex in examples[:800]]
    tokenizer = build_tokenizer(corpus, vocab_size=spec.vocab_size)
    logger.info("tiny model: tokenizer trained, %d tokens (%.1fs)", len(tokenizer), time.monotonic() - started)

    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    model = new_qwen2(tokenizer, spec)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("tiny model: Qwen2 with %d parameters", n_params)

    pairs = [_render_pair(tokenizer, ex) for ex in examples]
    longest = max(len(p) + len(t) for p, t in pairs)
    if longest > spec.max_position_embeddings:
        raise ValueError(f"a training example has {longest} tokens, over the model's context")

    groups = [[i for i, ex in enumerate(examples) if ex.mode == mode] for mode in ("sft", "prompt")]
    batches = _grouped_batches(groups, batch_size, seed)
    final_loss = train_on_targets(
        model, lambda step: [pairs[i] for i in batches[step % len(batches)]], pad_id, train_steps, learning_rate
    )
    elapsed = time.monotonic() - started
    marker = {
        "builder": "serpsim_simulator.tiny_model.build_tiny_model",
        "seed": seed,
        "train_steps": train_steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "final_loss": final_loss,
        "parameters": n_params,
        "vocab_size": len(tokenizer),
        "longest_example_tokens": longest,
        "build_seconds": round(elapsed, 1),
    }
    save_atomically(model, tokenizer, out_dir, {MARKER_FILE: marker})
    logger.info("tiny model: saved to %s (final loss %.3f, %.1fs)", out_dir, final_loss, elapsed)
    return out_dir


def new_qwen2(tokenizer: PreTrainedTokenizerFast, spec: TinyModelSpec) -> Any:
    """A random-weight Qwen2ForCausalLM sized by `spec`, with the tokenizer's vocabulary and ids."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    pad_id = tokenizer.convert_tokens_to_ids(tokenizer.pad_token)
    eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        use_cache=True,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None)
    return model


def _grouped_batches(groups: Sequence[Sequence[int]], batch_size: int, seed: int) -> list[list[int]]:
    """Batches drawn from one group at a time (the caller groups by prompt mode), so a long
    prompt-mode example does not pad a whole batch of short sft ones; inside a group the mix of
    quality and hints stays random."""
    rng = random.Random(seed + 1)
    batches: list[list[int]] = []
    for group in groups:
        members = list(group)
        rng.shuffle(members)
        batches += [members[i : i + batch_size] for i in range(0, len(members) - batch_size + 1, batch_size)]
    rng.shuffle(batches)
    return batches


Pair = tuple[list[int], list[int]]
"""(context token ids, target token ids): the loss is taken on the target only."""


def train_on_targets(
    model: Any,
    next_batch: Callable[[int], Sequence[Pair]],
    pad_id: int,
    steps: int,
    learning_rate: float,
    *,
    warmup_decay: bool = True,
    label: str = "tiny model",
) -> float:
    """AdamW on target tokens only (context labels are -100); returns the mean loss of the last ten steps.

    `next_batch(step)` supplies each step's pairs, so callers keep their own sampling.
    """
    import torch

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    warmup = max(1, steps // 20)

    def lr_lambda(step: int) -> float:
        if not warmup_decay:
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        return max(0.1, 1.0 - (step - warmup) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    recent: list[float] = []
    started = time.monotonic()
    cpu_started = time.process_time()
    for step in range(steps):
        batch = next_batch(step)
        width = max(len(p) + len(t) for p, t in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (prompt_ids, target_ids) in enumerate(batch):
            ids = prompt_ids + target_ids
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, len(prompt_ids) : len(ids)] = torch.tensor(target_ids)
            attention[row, : len(ids)] = 1
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        recent = [*recent[-9:], float(loss.item())]
        if step % 20 == 0 or step == steps - 1:
            logger.info(
                "%s: step %d/%d loss %.3f (%.1fs, %.1fs CPU)",
                label,
                step + 1,
                steps,
                loss.item(),
                time.monotonic() - started,
                time.process_time() - cpu_started,
            )
    model.eval()
    return sum(recent) / len(recent) if recent else float("nan")


def save_atomically(model: Any, tokenizer: PreTrainedTokenizerFast, out_dir: Path, extra_files: dict[str, Any]) -> None:
    """`save_pretrained` into `<out>.tmp`, then swap it in: a crashed build never leaves half a model.

    `extra_files` maps file names to JSON-able content written beside the weights (build markers).
    """
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for name, content in extra_files.items():
        (tmp / name).write_text(json.dumps(content, indent=2) + "\n")
    if out_dir.exists():
        old = out_dir.with_name(out_dir.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(out_dir)
