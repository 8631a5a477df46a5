"""Does the warmed-up policy read what it retrieves? Held-out questions through the one turn
protocol (`turns.TurnProtocol`, greedy, in-process) with searches answered from the world's
passages in one of three modes:

- `gold`: each search returns the passage stating the next fact the question needs, among
  passages about similar entities (as `warmup.WorldDocs.with_gold` arranges them);
- `random`: each search returns five random passages, none of which states a fact the question needs;
- `none`: no search allowed (`max_turns` 0: the one generation must answer).

If `gold` does not beat `random`, training against retrieval cannot show anything.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..evaluate import LocalPolicy
from ..reward import score_prediction
from ..search import AgentSettings, SearchOutcome
from ..tags import instruction_for
from ..turns import TurnProtocol, render_prompt
from .warmup import WorldDocs

Mode = Literal["gold", "random", "none"]
MODES: tuple[Mode, ...] = ("gold", "random", "none")


@dataclass
class ProbeResult:
    mode: Mode
    n: int = 0
    cover_em: float = 0.0
    f1: float = 0.0
    searches_per_question: float = 0.0
    answered: float = 0.0
    by_hops: dict[str, float] = field(default_factory=dict)
    """cover-EM per number of hops."""


async def _episode(policy: LocalPolicy, docs: WorldDocs, question: dict[str, Any], mode: Mode,
                   rng: random.Random, max_turns: int) -> tuple[dict[str, float], int, bool]:
    agent = AgentSettings(max_turns=max(max_turns, 1), max_tokens_per_turn=64, max_obs_tokens=1024)
    if mode == "none":
        agent = agent.model_copy(update={"max_turns": 0})
    protocol = TurnProtocol(policy.tokenizer, agent, response_length=1024)
    needed = {docs.hop_passage(question, h) for h in range(question["hops"])}
    searches = 0

    async def search(query: str, turn: int) -> SearchOutcome:
        nonlocal searches
        hop = min(searches, question["hops"] - 1)
        searches += 1
        if mode == "gold":
            pids = docs.with_gold(docs.hop_passage(question, hop), rng, gold_first_share=0.5)
        else:
            pids = docs.without(needed, rng)
        texts = [docs.text(p) for p in pids]
        return SearchOutcome(text=docs.docs_text(pids), ok=True, quality=None, p_noisy=None, seed=0, documents=texts)

    prompt = render_prompt(policy.tokenizer, [{"role": "user", "content": instruction_for(question["question"])}])
    traj = await protocol.run(prompt, policy.generate, search)
    prediction = next((t.content for t in reversed(traj.turns) if t.action == "answer"), None)
    return score_prediction(prediction, question["golden_answers"]), searches, prediction is not None


def probe(policy_dir: Path, world_dir: Path, questions: Sequence[dict[str, Any]], modes: Sequence[Mode] = MODES,
          *, seed: int = 0, max_turns: int = 3) -> list[ProbeResult]:
    """cover-EM and F1 of the policy on `questions` in each mode (greedy, so repeatable)."""
    policy = LocalPolicy(str(policy_dir), device="cpu")
    docs = WorldDocs(world_dir)
    results = []
    for mode in modes:
        rng = random.Random(seed)
        result = ProbeResult(mode=mode, n=len(questions))
        per_hops: Counter[str] = Counter()
        hits: Counter[str] = Counter()
        for q in questions:
            scores, searches, answered = asyncio.run(_episode(policy, docs, q, mode, rng, max_turns))
            result.cover_em += scores["cover_em"]
            result.f1 += scores["f1"]
            result.searches_per_question += searches
            result.answered += answered
            per_hops[str(q["hops"])] += 1
            hits[str(q["hops"])] += scores["cover_em"]
        n = max(len(questions), 1)
        result.cover_em, result.f1 = result.cover_em / n, result.f1 / n
        result.searches_per_question, result.answered = result.searches_per_question / n, result.answered / n
        result.by_hops = {h: hits[h] / per_hops[h] for h in sorted(per_hops)}
        results.append(result)
    return results
