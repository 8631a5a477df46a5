"""ZeroSearch's noise curriculum: the probability that a search returns *noisy* documents.

p(noisy) at step i of T = start + (base**(i/T) - 1) / (base - 1) * (end - start), with i clamped
to [0, T] (reference/zerosearch.md §2). ZeroSearch flipped an unseeded global coin per call; here
the caller owns the RNG (one `random.Random` per call, seeded from the call's seed), so a run replays.

Granularity: `call` (ZeroSearch) labels a whole search call noisy with probability p, so all its
documents are noisy or none; `document` sends p itself as the simulator's `noise_ratio`, so each
search mixes about p·topk noisy documents among useful ones.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from serpsim_protocol import Quality


def noisy_prob(step: int | float, total: int, start: float = 0.0, end: float = 0.5, base: float = 4.0) -> float:
    """Probability of a noisy result at `step` of `total` (1-based verl `global_steps`)."""
    if total <= 0:
        raise ValueError(f"total steps must be positive, got {total}")
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base}")
    frac = min(max(float(step) / total, 0.0), 1.0)
    return start + (base**frac - 1) / (base - 1) * (end - start)


class Curriculum(BaseModel):
    """The schedule's settings; `total_steps` is the run's `trainer.total_training_steps`."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(default=0.0, ge=0.0, le=1.0)
    end: float = Field(default=0.5, ge=0.0, le=1.0)
    base: float = Field(default=4.0, gt=0.0)
    total_steps: int = Field(default=203, gt=0)
    granularity: Literal["call", "document"] = Field(
        default="call",
        description="call: one coin per search call (ZeroSearch); document: noise_ratio=p(step) on every search",
    )

    @model_validator(mode="after")
    def _base_not_one(self) -> Curriculum:
        if self.base == 1:
            raise ValueError("curriculum base must not be 1 (the schedule divides by base - 1)")
        return self

    def prob(self, step: int | float) -> float:
        return noisy_prob(step, self.total_steps, self.start, self.end, self.base)

    def draw_quality(self, rng: random.Random, step: int | float) -> Quality:
        """One coin per search call: noisy iff rng.random() < p(step)."""
        return "noisy" if rng.random() < self.prob(step) else "useful"

    def schedule(self) -> list[tuple[int, float]]:
        return [(i, self.prob(i)) for i in range(0, self.total_steps + 1)]
