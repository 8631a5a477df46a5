"""Questions about the world's real entities, and the train/test split by the facts they touch.

A single-hop question asks one fact ("Where was Maren Koval born?"); a two-hop question chains two
through a bridge entity ("In which country was Maren Koval born?": her birthplace, then its
country). A question *touches* the facts it needs, bridge included.

The split: each real entity is held out with probability `test_fraction` (a seeded coin), and a
fact is held out with its subject. A question whose facts are all held out is a test question,
one whose facts are all kept is a training question, and a question mixing both is dropped
(`Questions.dropped` says how many). So no fact a test question needs is asked by any training
question, and the policy cannot answer a test question from facts it was trained on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .world import Entity, Fact, World

Split = Literal["train", "test"]


@dataclass(frozen=True)
class Template:
    name: str
    kind: str
    """The kind of entity the question names."""
    text: str
    """`{e}` is the named entity."""
    hops: int


TEMPLATES: tuple[Template, ...] = (
    Template("birthplace", "person", "Where was {e} born?", 1),
    Template("born", "person", "In which year was {e} born?", 1),
    Template("employer", "person", "Which company does {e} work for?", 1),
    Template("headquarters", "org", "Where is {e} headquartered?", 1),
    Template("founder", "org", "Who founded {e}?", 1),
    Template("founded", "org", "In which year was {e} founded?", 1),
    Template("country", "city", "In which country is {e}?", 1),
    Template("river", "city", "Which river flows through {e}?", 1),
    Template("birth_country", "person", "In which country was {e} born?", 2),
    Template("birth_river", "person", "Which river flows through the birthplace of {e}?", 2),
    Template("employer_founded", "person", "In which year was the company {e} works for founded?", 2),
    Template("employer_headquarters", "person", "Where is the company {e} works for headquartered?", 2),
    Template("founded_by_headquarters", "person", "Where is the company founded by {e} headquartered?", 2),
    Template("headquarters_country", "org", "In which country is {e} headquartered?", 2),
)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    template: str
    hops: int
    entity: str
    """The entity the question names."""
    facts: tuple[str, ...]
    """Ids of the facts it touches, in reading order; the last one's value is the answer."""
    bridge: str | None = None
    """Two-hop: the entity between the two facts."""


def _chain(world: World, entity: Entity, template: str) -> list[Fact] | None:
    """The facts a template needs for `entity`, in reading order (None: it does not apply)."""
    def fact(subject: str, relation: str) -> Fact:
        return world.facts[f"{subject}|{relation}"]

    def two(first: str, second: str) -> list[Fact]:
        hop = fact(entity.name, first)
        return [hop, fact(hop.value, second)]

    chains: dict[str, Callable[[], list[Fact] | None]] = {
        "birth_country": lambda: two("birthplace", "country"),
        "birth_river": lambda: two("birthplace", "river"),
        "employer_founded": lambda: two("employer", "founded"),
        "employer_headquarters": lambda: two("employer", "headquarters"),
        "headquarters_country": lambda: two("headquarters", "country"),
        "founded_by_headquarters": lambda: (
            [fact(org.name, "founder"), fact(org.name, "headquarters")]
            if (org := world.founded_by(entity.name)) is not None else None
        ),
    }
    if template in chains:
        return chains[template]()
    return [fact(entity.name, template)]


def all_questions(world: World) -> list[Question]:
    """Every question the templates ask about the world's real entities, in a stable order."""
    out: list[Question] = []
    for template in TEMPLATES:
        for entity in world.of_kind(template.kind):  # type: ignore[arg-type]
            chain = _chain(world, entity, template.name)
            if chain is None:
                continue
            bridge = chain[0].value if template.name != "founded_by_headquarters" else chain[0].subject
            out.append(Question(
                id=f"{template.name}:{entity.name}", question=template.text.format(e=entity.name),
                answer=chain[-1].value, template=template.name, hops=template.hops, entity=entity.name,
                facts=tuple(f.id for f in chain), bridge=bridge if template.hops == 2 else None,
            ))
    return out


@dataclass
class Questions:
    train: list[Question] = field(default_factory=list)
    test: list[Question] = field(default_factory=list)
    dropped: int = 0
    held_out: frozenset[str] = frozenset()
    """Names of the real entities whose facts are held out."""


def split_questions(world: World) -> Questions:
    """The split described in the module docstring; each side is shuffled (seeded)."""
    rng = random.Random(f"{world.seed}:split")
    held = frozenset(e.name for e in world.entities.values()
                     if not e.is_distractor and e.kind in ("city", "org", "person")
                     and rng.random() < world.size.test_fraction)
    facts = world.facts
    result = Questions(held_out=held)
    for q in all_questions(world):
        sides = {facts[f].subject in held for f in q.facts}
        if sides == {True}:
            result.test.append(q)
        elif sides == {False}:
            result.train.append(q)
        else:
            result.dropped += 1
    rng.shuffle(result.train)
    rng.shuffle(result.test)
    return result
