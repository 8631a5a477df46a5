"""The world's "web": one passage per city, organisation and person (real or distractor), each
opening with its title, the entity's name, so that it reads the same whether a search result
shows the title or not. Sentences repeat the name instead of a pronoun: every fact is stated as
`<subject> <relation phrase> <value>` inside one sentence of the subject's own passage, and
nowhere else (`Corpus.sources`).

Phrasings vary (seeded) so that a reader must find the relation, not a fixed position. Every
sentence names its subject first and its value after the relation phrase: a reader (and a tiny
policy quoting it) finds the value by reading on from "<subject> <relation phrase>".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .world import Entity, World

PHRASES: dict[str, tuple[str, ...]] = {
    "person": (
        "{e} was born in {birthplace} in {born}. {e} works for {employer}. {e} is known for {hobby}.",
        "{e} was born in {born} in {birthplace}. {e} is known for {hobby}. {e} works for {employer}.",
        "{e} is known for {hobby}. {e} was born in {birthplace} in {born}. {e} works for {employer}.",
    ),
    "org": (
        "{e} was founded in {founded} by {founder}. {e} is headquartered in {headquarters}. {e} makes {product}.",
        "{e} was founded by {founder} in {founded}. {e} makes {product}. {e} is headquartered in {headquarters}.",
        "{e} makes {product}. {e} is headquartered in {headquarters}. {e} was founded in {founded} by {founder}.",
    ),
    "city": (
        "{e} is a city in {country}. {e} lies on the {river} river. {e} is known for {feature}.",
        "{e} is known for {feature}. {e} is a city in {country}. {e} lies on the {river} river.",
    ),
}


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str
    entity: str
    distractor: bool

    def record(self) -> dict[str, str]:
        """The corpus backend's JSONL form."""
        return {"id": self.id, "title": self.title, "text": self.text}


@dataclass
class Corpus:
    passages: list[Passage] = field(default_factory=list)
    by_entity: dict[str, Passage] = field(default_factory=dict)

    def sources(self, fact_id: str) -> list[str]:
        """Ids of the passages that state a fact: its subject's passage, only."""
        subject = fact_id.split("|", 1)[0]
        return [self.by_entity[subject].id]


def passage_text(entity: Entity, rng: random.Random) -> str:
    return rng.choice(PHRASES[entity.kind]).format(e=entity.name, **entity.attrs)


def build_corpus(world: World) -> Corpus:
    """One passage per city, organisation and person, in a seeded shuffled order (ids `w00001`...),
    so a distractor's passage is not next to its namesake's."""
    rng = random.Random(f"{world.seed}:corpus")
    entities = [e for e in world.entities.values() if e.kind in PHRASES]
    rng.shuffle(entities)
    corpus = Corpus()
    for i, entity in enumerate(entities, start=1):
        passage = Passage(id=f"w{i:05d}", title=entity.name, text=passage_text(entity, rng), entity=entity.name,
                          distractor=entity.is_distractor)
        corpus.passages.append(passage)
        corpus.by_entity[entity.name] = passage
    return corpus
