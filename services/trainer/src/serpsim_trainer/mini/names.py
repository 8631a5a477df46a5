"""Fictional names from syllables, and near-namesakes (one letter changed) for distractor entities.

Every name of a world is registered in one `NameRegistry`, which refuses a name whose normalised
form contains, or is contained in, a name already taken: cover-EM counts a prediction right when
it contains the gold answer, so "Maren Koval" must never sit inside "Maren Kovalik".
"""

from __future__ import annotations

import random

from ..reward import normalize_answer

ONSETS: tuple[str, ...] = (
    "b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "tr", "v", "z",
)  # fmt: skip
VOWELS: tuple[str, ...] = ("a", "e", "i", "o", "u", "ai", "ei", "ou")
CODAS: tuple[str, ...] = ("", "", "", "n", "r", "l", "s", "k", "m", "th", "nd", "rt")
ORG_SUFFIXES: tuple[str, ...] = (
    "Systems", "Works", "Labs", "Group", "Foods", "Motors", "Press", "Textiles", "Shipping", "Energy",
)  # fmt: skip
COUNTRY_ENDINGS: tuple[str, ...] = ("ia", "land", "mark", "ovia", "istan", "ea")


class NameRegistry:
    """The names taken so far in one world; see the module docstring for the substring rule."""

    def __init__(self) -> None:
        self._taken: list[str] = []

    def free(self, name: str) -> bool:
        key = normalize_answer(name)
        return bool(key) and not any(key in other or other in key for other in self._taken)

    def take(self, name: str) -> str:
        if not self.free(name):
            raise ValueError(f"name {name!r} collides with a name already taken")
        self._taken.append(normalize_answer(name))
        return name


def word(rng: random.Random, syllables: int) -> str:
    """A pronounceable made-up word, capitalised."""
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables)]
    return ("".join(parts) + rng.choice(CODAS)).capitalize()


def unique(rng: random.Random, registry: NameRegistry, make: object, attempts: int = 1000) -> str:
    """The first name `make(rng)` proposes that the registry accepts."""
    for _ in range(attempts):
        name = make(rng)  # type: ignore[operator]
        if registry.free(name):
            return registry.take(name)
    raise RuntimeError("could not find a free name: the world is too large for its name space")


def person_name(first_names: list[str], rng: random.Random) -> str:
    return f"{rng.choice(first_names)} {word(rng, rng.choice((2, 2, 3)))}"


def org_name(rng: random.Random) -> str:
    return f"{word(rng, 2)} {rng.choice(ORG_SUFFIXES)}"


def city_name(rng: random.Random) -> str:
    return word(rng, rng.choice((2, 3)))


def river_name(rng: random.Random) -> str:
    return word(rng, 2)


def country_name(rng: random.Random) -> str:
    return word(rng, 1) + rng.choice(COUNTRY_ENDINGS)


def one_letter_variant(rng: random.Random, name: str) -> str:
    """`name` with one letter of its last word replaced (never the first letter, so it still looks
    like the same family name or place: "Koval" -> "Kovar")."""
    head, _, last = name.rpartition(" ")
    i = rng.randrange(1, len(last)) if len(last) > 1 else 0
    # A vowel for a vowel, a consonant for a consonant: "Koval" -> "Kovel" or "Kovar", never "Kovxl".
    pool = "aeiou" if last[i].lower() in "aeiou" else "bdfgklmnprstvz"
    choices = [c for c in pool if c != last[i].lower()]
    changed = last[:i] + rng.choice(choices) + last[i + 1 :]
    return f"{head} {changed}".strip()


def near_namesake(rng: random.Random, registry: NameRegistry, name: str, kind: str, first_names: list[str]) -> str:
    """A free name similar to `name`: a person with the same first name and a one-letter-different
    surname, or the same surname and another first name; an organisation with the same head word
    and another suffix; a place one letter away."""

    def propose(r: random.Random) -> str:
        if kind == "person":
            first, _, last = name.partition(" ")
            if r.random() < 0.5:
                return one_letter_variant(r, name)
            return f"{r.choice([f for f in first_names if f != first])} {last}"
        if kind == "org":
            head, _, suffix = name.rpartition(" ")
            return f"{head} {r.choice([s for s in ORG_SUFFIXES if s != suffix])}"
        return one_letter_variant(r, name)

    return unique(rng, registry, propose)
