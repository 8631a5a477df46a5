"""The mini policy's supervised warm-up: a tiny Qwen2 taught, on the world's *training* questions,
to act in the tag protocol well enough that search and RL have something to work with.

The demonstrations (one trajectory drawn per question at each step, each turn a (context, target)
pair, the loss on the target only):
- search first (`1 - direct_share` of trajectories), the query being the question itself or
  the entity it names;
- after an `<information>` block, answer with the span the gold passage states: the passage
  about the asked entity, set among passages about other entities of the same kind (its
  near-namesake first), at rank 1 or anywhere in the five, so the policy must find it by name;
- a two-hop question searches the bridge entity it read in the first block, then answers from
  the second;
- `direct_share` of trajectories answer without searching (the gold answer: on held-out
  questions such answers are guesses, which is what a policy without search can do).

The building blocks are the tiny test policy's (`tiny_policy`): its tokenizer, Qwen2 constructor
and the training loop shared with the tiny simulation model (`serpsim_simulator.tiny_model`).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tags import information_block, instruction_for
from ..tiny_policy import THINK_ANSWER, THINK_SEARCH, prompt_text
from .build import read_corpus, read_questions, read_world

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

MARKER_FILE = "serpsim_mini_policy.json"
THINK_DIRECT = "<think> I know this. </think>\n<answer> {answer} </answer>"
THINK_QUOTE_ANSWER = "<think> {quote} </think>\n<answer> {answer} </answer>"
THINK_QUOTE_SEARCH = "<think> {quote} </think>\n<search> {query} </search>"
DOCS_PER_SEARCH = 5
MAX_COPY_PREFIX = 64


@dataclass(frozen=True)
class WarmupSettings:
    copy_steps: int = 1000
    """Steps of the copy stage (see `copy_item`), before the protocol's demonstrations."""
    copy_batch_size: int = 32
    copy_learning_rate: float = 3e-3
    steps: int = 900
    """Steps of the protocol stage; every `copy_every`-th of them is a copy batch (without it, the
    demonstrations erase the copying: a model that saw none after its copy stage copies nothing)."""
    copy_every: int = 3
    batch_size: int = 16
    learning_rate: float = 2e-3
    direct_share: float = 0.15
    """Share of demonstrations that answer without searching."""
    entity_query_share: float = 0.4
    """Share of searches whose query is the named entity rather than the whole question."""
    gold_first_share: float = 0.5
    """Share of result lists with the gold passage at rank 1 (else at a random rank)."""
    rename_share: float = 0.7
    """Share of demonstrations whose names and years are swapped for others of the world (see
    `WorldDocs.rename`): the same reading, with nothing to memorise, so the policy learns to copy
    what it reads rather than the names it saw most."""
    hidden_size: int = 256
    layers: int = 4
    heads: int = 8
    seed: int = 0


class WorldDocs:
    """The world's passages as a search would show them, and who they are about."""

    def __init__(self, world_dir: Path) -> None:
        world = read_world(world_dir)
        self.corpus = read_corpus(world_dir)
        self.facts = {f["id"]: f for f in world["facts"]}
        self.fact_passages = {f["id"]: f["passages"] for f in world["facts"]}
        kinds = {e["name"]: e["kind"] for e in world["entities"]}
        self.entity_of = {pid: p["entity"] for pid, p in world["passages"].items()}
        self.namesakes: dict[str, list[str]] = {}
        by_name = {p["entity"]: pid for pid, p in world["passages"].items()}
        for e in world["entities"]:
            if e["distractor_of"] and e["distractor_of"] in by_name:
                self.namesakes.setdefault(by_name[e["distractor_of"]], []).append(by_name[e["name"]])
        self.by_kind: dict[str, list[str]] = {}
        for pid, name in self.entity_of.items():
            self.by_kind.setdefault(kinds[name], []).append(pid)
        self.kind_of = {pid: kinds[name] for pid, name in self.entity_of.items()}
        self.names_by_kind: dict[str, list[str]] = {}
        for name, kind in kinds.items():
            self.names_by_kind.setdefault(kind, []).append(name)
        self.kind_of_name = kinds
        # No world name contains another (names.NameRegistry), so one alternation finds each whole.
        self._names_re = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(kinds, key=len, reverse=True))
                                    + r")\b|\b(1[89]\d\d|20[0-2]\d)\b")

    def rename(self, texts: Sequence[str], rng: random.Random) -> list[str]:
        """`texts` with every entity name replaced by another name of the same kind, and every year
        by another year, consistently across the texts (a fresh mapping per call, never a name to
        itself)."""
        mapping: dict[str, str] = {}
        used: set[str] = set()

        def substitute(match: re.Match[str]) -> str:
            old = match.group(0)
            if old not in mapping:
                pool = self.names_by_kind[self.kind_of_name[old]] if match.group(1) else None
                new = old
                for _ in range(50):  # another name (or year), not yet given to another
                    if new != old and new not in used:
                        break
                    new = rng.choice(pool) if pool else str(rng.randint(1850, 2020))
                mapping[old] = new
                used.add(new)
            return mapping[old]

        return [self._names_re.sub(substitute, t) for t in texts]

    def text(self, pid: str) -> str:
        return self.corpus[pid]["text"]

    def statement(self, question: dict[str, Any], hop: int) -> str:
        """The sentence of the hop's passage that states its fact (a passage repeats its subject's
        name in every sentence, so the sentence naming the subject and the value is the one)."""
        fact = self.facts[question["facts"][hop]]
        sentences = [s.strip() + "." for s in self.text(self.hop_passage(question, hop)).split(". ") if s.strip()]
        found = [s for s in sentences if fact["subject"] in s and fact["value"] in s]
        if not found:
            raise ValueError(f"no sentence states {fact['id']}")
        return found[0].replace("..", ".")

    def hop_passage(self, question: dict[str, Any], hop: int) -> str:
        """The passage a question's `hop`-th fact is stated in (0-based)."""
        return self.fact_passages[question["facts"][hop]][0]

    def with_gold(self, gold: str, rng: random.Random, gold_first_share: float) -> list[str]:
        """Five passage ids: `gold`, its near-namesakes, then others of the same kind."""
        others = [p for p in self.namesakes.get(gold, [])]
        pool = [p for p in self.by_kind[self.kind_of[gold]] if p != gold and p not in others]
        others += rng.sample(pool, min(len(pool), DOCS_PER_SEARCH - 1 - len(others)))
        others = others[: DOCS_PER_SEARCH - 1]
        rng.shuffle(others)
        at = 0 if rng.random() < gold_first_share else rng.randrange(DOCS_PER_SEARCH)
        return [*others[:at], gold, *others[at:]]

    def without(self, excluded: set[str], rng: random.Random) -> list[str]:
        """Five random passage ids, none of them in `excluded`."""
        pool = [p for p in self.corpus if p not in excluded]
        return rng.sample(pool, DOCS_PER_SEARCH)

    def docs_text(self, pids: Sequence[str]) -> str:
        return "\n".join(f"Doc {i}: {self.text(p)}" for i, p in enumerate(pids, start=1))


def copy_item(token_ids: Sequence[int], separator: Sequence[int], rng: random.Random,
              max_prefix: int = 64) -> tuple[list[int], list[int]]:
    """Random tokens, the separator, a span of 4 to 16 random tokens, the separator again; the
    target is the span again.

    A pretrained LLM arrives able to copy from its context; a random-weight one learns it from the
    protocol's few copies only after thousands of steps (it memorises the commonest names instead).
    Copying random spans builds that ability quickly; the random prefix puts the span at varying
    distances, as a question's entity sits before the answer. The separator before the span matters:
    without it the span's start cannot be found, and a 2-layer, 128-wide model copied none of 50
    spans after 600 steps; with it, 44 of 50 (lr 3e-3, batch 32; ~90 s on 2 CPU cores).
    """
    vocab = list(token_ids)
    span = rng.sample(vocab, rng.randint(4, 16))
    prefix = rng.sample(vocab, rng.randint(0, max_prefix))
    return [*prefix, *separator, *span, *separator], span


@dataclass(frozen=True)
class Demonstration:
    question: str
    turns: list[str]
    observations: list[str]
    """Observation k follows turn k (the last turn, an answer, has none)."""


def demonstration(question: dict[str, Any], docs: WorldDocs, settings: WarmupSettings,
                  rng: random.Random) -> Demonstration:
    """One trajectory for a training question (see the module docstring)."""
    answer = question["golden_answers"][0]
    if rng.random() < settings.direct_share:
        return Demonstration(question["question"], [THINK_DIRECT.format(answer=answer)], [])
    query = question["entity"] if rng.random() < settings.entity_query_share else question["question"]
    turns = [THINK_SEARCH.format(query=query)]
    observations = [information_block(docs.docs_text(
        docs.with_gold(docs.hop_passage(question, 0), rng, settings.gold_first_share)))]
    if question["hops"] == 2:
        turns.append(THINK_QUOTE_SEARCH.format(quote=docs.statement(question, 0), query=question["bridge"]))
        observations.append(information_block(docs.docs_text(
            docs.with_gold(docs.hop_passage(question, 1), rng, settings.gold_first_share))))
    turns.append(THINK_QUOTE_ANSWER.format(quote=docs.statement(question, question["hops"] - 1), answer=answer))
    if rng.random() >= settings.rename_share:
        return Demonstration(question["question"], turns, observations)
    texts = docs.rename([question["question"], *turns, *observations], rng)
    return Demonstration(texts[0], texts[1 : 1 + len(turns)], texts[1 + len(turns) :])


def turn_pairs(tokenizer: PreTrainedTokenizerBase, demo: Demonstration) -> list[tuple[list[int], list[int]]]:
    """(context ids, target ids) per policy turn; the last turn ends with the end-of-sequence token."""
    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    context = encode(prompt_text(tokenizer, demo.question))
    pairs = []
    for i, turn in enumerate(demo.turns):
        last = i == len(demo.turns) - 1
        target = encode(turn + (tokenizer.eos_token or "") if last else turn)
        pairs.append((context, target))
        if not last:
            context = context + target + encode(demo.observations[i])
    return pairs


def tokenizer_corpus(questions: Sequence[dict[str, Any]], docs: WorldDocs) -> list[str]:
    texts = [instruction_for(q["question"]) + THINK_SEARCH.format(query=q["entity"])
             + THINK_ANSWER.format(answer=q["golden_answers"][0]) + THINK_DIRECT for q in questions]
    return texts + [docs.text(p) for p in docs.corpus]


def name_words(docs: WorldDocs) -> list[str]:
    """Every word of every entity name, with and without a leading space: repeated into the
    tokenizer's corpus, each becomes one token, so copying a name is copying a few tokens."""
    words = {w for p in docs.corpus.values() for w in p["title"].split()}
    return sorted(words | {" " + w for w in words})


def warm_up_policy(world_dir: Path, out_dir: Path, settings: WarmupSettings | None = None) -> dict[str, Any]:
    """Build the tokenizer and model, warm them up on the world's training questions, save to
    `out_dir` (atomically); returns the marker written beside the weights."""
    import torch
    from serpsim_simulator.tiny_model import (
        DEFAULT_EXTRA_TEXTS,
        TinyModelSpec,
        build_tokenizer,
        new_qwen2,
        save_atomically,
        train_on_targets,
    )

    settings = settings or WarmupSettings()
    started = time.monotonic()
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    docs = WorldDocs(world_dir)
    questions = read_questions(world_dir, "train")
    if not questions:
        raise ValueError(f"{world_dir}: no training questions")
    tokenizer = build_tokenizer(tokenizer_corpus(questions, docs), vocab_size=8192,
                                extra_texts=[*DEFAULT_EXTRA_TEXTS, *name_words(docs)])
    spec = TinyModelSpec(hidden_size=settings.hidden_size, intermediate_size=3 * settings.hidden_size,
                         num_hidden_layers=settings.layers, num_attention_heads=settings.heads,
                         num_key_value_heads=max(1, settings.heads // 2))
    model = new_qwen2(tokenizer, spec)
    pad_id = tokenizer.convert_tokens_to_ids(tokenizer.pad_token)

    vocab = [i for i in range(len(tokenizer)) if i not in set(tokenizer.all_special_ids)]
    separator = tokenizer.encode(" </search>", add_special_tokens=False)

    def copy_batch(step: int) -> list[tuple[list[int], list[int]]]:
        # The span's distance grows over the copy stage: copying forms first at short range.
        reach = round(MAX_COPY_PREFIX * min(1.0, 2 * step / max(settings.copy_steps, 1)))
        return [copy_item(vocab, separator, rng, reach) for _ in range(settings.copy_batch_size)]

    def next_batch(step: int) -> list[tuple[list[int], list[int]]]:
        if settings.copy_every and step % settings.copy_every == settings.copy_every - 1:
            return copy_batch(settings.copy_steps)
        # Twice the pairs needed, sorted by length, and a window of them: a batch pads to its
        # longest sequence, and a first turn (the prompt) is half as long as an answer turn.
        pairs: list[tuple[list[int], list[int]]] = []
        while len(pairs) < 2 * settings.batch_size:
            question = rng.choice(questions)
            pairs += turn_pairs(tokenizer, demonstration(question, docs, settings, rng))
        pairs.sort(key=lambda p: len(p[0]) + len(p[1]))
        start = rng.randrange(len(pairs) - settings.batch_size + 1)
        return pairs[start : start + settings.batch_size]

    copy_loss = None
    if settings.copy_steps:
        copy_loss = train_on_targets(model, copy_batch, pad_id, settings.copy_steps, settings.copy_learning_rate,
                                     label="mini policy (copy)")
    loss = train_on_targets(model, next_batch, pad_id, settings.steps, settings.learning_rate, label="mini policy")
    marker: dict[str, Any] = {
        "builder": "serpsim_trainer.mini.warmup.warm_up_policy", "world": str(world_dir),
        "settings": asdict(settings), "final_loss": loss, "copy_loss": copy_loss, "train_questions": len(questions),
        "parameters": sum(p.numel() for p in model.parameters()),
        "warmup_seconds": round(time.monotonic() - started, 1),
    }
    save_atomically(model, tokenizer, Path(out_dir), {MARKER_FILE: marker})
    logger.info("mini policy: saved to %s (loss %.3f, %.0fs)", out_dir, loss, marker["warmup_seconds"])
    return marker
