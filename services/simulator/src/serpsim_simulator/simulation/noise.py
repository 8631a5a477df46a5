"""Per-document noise: how many of a search's documents are noisy, which generations make
them, and in which order they come back. Pure functions of (num, ratio or count, seed).

ZeroSearch labels a whole search call useful or noisy. Here one search can mix them:
- `noise_count=k` asks for exactly k noisy documents out of `num` (all of them when k > num: the
  rule needs no other parameter, so each parameter's published schema states it alone);
- `noise_ratio=r` (0..1) asks for k = floor(r·num + u) of them, u uniform in [0, 1) drawn from
  the request's seed: k is r·num on average, always floor(r·num) or ceil(r·num), and a small r
  still yields a noisy document now and then (r = 0.05, num = 5: one search in four).
The documents come from ceil(k/5) noisy and ceil((num-k)/5) useful generations (the templates
ask for five documents each), none of a kind whose count is 0, and a seeded shuffle of the k
noisy and num-k useful slots interleaves them. The same seed gives the same k and the same
order; an unseeded request draws both from fresh randomness.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from serpsim_protocol import Quality
from serpsim_protocol.prompts import DOCS_PER_GENERATION

from ..errors import InvalidParameter

T = TypeVar("T")


def _rng(seed: int | None, purpose: str) -> random.Random:
    # Seeding with a string is stable across processes and Python versions (sha512 of the text),
    # and the purpose keeps the count's draw independent of the shuffle's.
    return random.Random(f"serpsim-noise-{purpose}:{seed}") if seed is not None else random.Random()


def noisy_count(num: int, *, ratio: float | None = None, count: int | None = None, seed: int | None = None) -> int:
    """k, the number of noisy documents among `num`; a bad combination is a 400."""
    if num < 1:
        raise InvalidParameter("Invalid `num` parameter: at least 1.")
    if ratio is not None and count is not None:
        raise InvalidParameter("Give `noise_ratio` or `noise_count`, not both.")
    if count is not None:
        if count < 0:
            raise InvalidParameter("Invalid `noise_count` parameter: at least 0.")
        return min(count, num)
    if ratio is None:
        return 0
    if not 0.0 <= ratio <= 1.0 or math.isnan(ratio):
        raise InvalidParameter("Invalid `noise_ratio` parameter: between 0 and 1.")
    # r·num rounded to 9 places, so 0.7·10 (7.000000000000001 in binary) counts as the integer 7.
    expected = round(ratio * num, 9)
    whole = math.floor(expected)
    u = _rng(seed, "count").random()
    # floor(x + u) = floor(x) + [u >= 1 - frac(x)], written so that float rounding of x + u can
    # never push an integral x up by one.
    return whole + (1 if u >= 1.0 - (expected - whole) else 0)


@dataclass(frozen=True)
class NoisePlan:
    num: int
    noisy: int

    @property
    def useful(self) -> int:
        return self.num - self.noisy

    @property
    def noisy_generations(self) -> int:
        return math.ceil(self.noisy / DOCS_PER_GENERATION)

    @property
    def useful_generations(self) -> int:
        return math.ceil(self.useful / DOCS_PER_GENERATION)


def plan_noise(num: int, *, ratio: float | None = None, count: int | None = None, seed: int | None = None) -> NoisePlan:
    return NoisePlan(num=num, noisy=noisy_count(num, ratio=ratio, count=count, seed=seed))


def interleave(useful: Sequence[T], noisy: Sequence[T], plan: NoisePlan, seed: int | None = None) -> list[tuple[Quality, T]]:
    """The labelled documents in a seeded order: plan.noisy noisy and plan.useful useful slots,
    shuffled, each filled from its list in order. A generation that wrote fewer documents than
    its slots leaves those slots out: the search returns fewer documents, never mislabelled ones."""
    slots: list[Quality] = ["noisy"] * plan.noisy + ["useful"] * plan.useful
    _rng(seed, "order").shuffle(slots)
    sources = {"useful": iter(useful[: plan.useful]), "noisy": iter(noisy[: plan.noisy])}
    out: list[tuple[Quality, T]] = []
    for label in slots:
        doc = next(sources[label], None)
        if doc is not None:
            out.append((label, doc))
    return out
