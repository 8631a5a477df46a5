"""A corpus the tests make: invented countries, one fact per passage, and questions about them.

Each country has a capital, a river, a founder and a national dish, each stated in a passage of
its own, so every other passage about the same country (other attributes) and every passage
about the same attribute (other countries) is a distractor that shares words with the
question. The names are invented, so no model has seen the facts. Questions are phrased
differently from the passages ("What is the capital of X?" vs "... has been the seat of X's
government ..."), so the retrievers have to match meaning and names, not copy sentences.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "st", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "n", "r", "s", "l", "th", "nd", "sk"]

_FACTS = {
    "capital": (
        "{value} has been the capital city of {country} since {year}; the seat of its government and parliament.",
        "What is the capital of {country}?",
    ),
    "river": (
        "The longest river flowing through {country} is the {value}, which runs {n} kilometres to the sea.",
        "Which river is the longest in {country}?",
    ),
    "founder": (
        "{country} was founded in {year} by {value}, who became its first ruler and wrote its first laws.",
        "Who founded {country}?",
    ),
    "dish": (
        "The national dish of {country} is {value}, a stew of lentils and smoked fish eaten at every festival.",
        "What is the national dish of {country}?",
    ),
}

_FILLER = [
    "Weather reports for the northern provinces mention heavy rain in spring and dry summers.",
    "Trade fairs attract merchants from many neighbouring regions every autumn.",
    "Local historians disagree about the origin of several old bridges and city walls.",
    "Railway lines connect most towns, although mountain villages are reached by bus.",
    "Museums display pottery, woven carpets and coins from earlier centuries.",
]


@dataclass(frozen=True)
class Fact:
    doc_id: str
    question: str
    answer: str


def _name(rng: random.Random, syllables: int) -> str:
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)
    return word.capitalize()


def _unique_names(rng: random.Random, count: int, syllables: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = _name(rng, syllables)
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def make_fact_corpus(countries: int = 75, fillers: int = 40, seed: int = 7) -> tuple[list[dict[str, str]], list[Fact]]:
    """(passages `{id, title, text}`, one question per fact), deterministic in `seed`."""
    rng = random.Random(seed)
    taken: set[str] = set()
    names = _unique_names(rng, countries, 3, taken)
    passages: list[dict[str, str]] = []
    facts: list[Fact] = []
    for c, country in enumerate(names):
        for attribute, (statement, question) in _FACTS.items():
            value = _unique_names(rng, 1, 2, taken)[0]
            if attribute == "founder":
                value = f"{value} {_unique_names(rng, 1, 2, taken)[0]}"
            doc_id = f"c{c:03d}-{attribute}"
            text = statement.format(country=country, value=value, year=rng.randint(900, 1900), n=rng.randint(80, 900))
            passages.append({"id": doc_id, "title": country, "text": text})
            facts.append(Fact(doc_id=doc_id, question=question.format(country=country), answer=value))
    for f in range(fillers):
        country = rng.choice(names)
        passages.append({"id": f"filler-{f:03d}", "title": f"Travelling in {country}", "text": f"{country}. {rng.choice(_FILLER)}"})
    rng.shuffle(passages)
    return passages, facts


def write_jsonl(path: Path, passages: list[dict[str, str]], form: str = "title_text") -> Path:
    """Write passages as `{id, title, text}` or as Search-R1's `{id, contents}`."""
    with path.open("w") as f:
        for p in passages:
            if form == "contents":
                row = {"id": p["id"], "contents": f'"{p["title"]}"\n{p["text"]}'}
            else:
                row = p
            f.write(json.dumps(row) + "\n")
    return path
