"""The synthetic world: fictional countries, rivers, cities, organisations and people, with
attributes drawn from a seeded RNG, plus distractor entities with near-identical names and the same
attribute types (never asked about: they exist to be retrieved by mistake).

A fact is one (subject, relation) -> value; `World.facts` lists every fact a passage states, real
or distractor, under a stable id `"<subject>|<relation>"`. Sizes are configurable (`WorldSize`):
`full` for `make mini` (more than 300 test questions), `ci` for the reduced end-to-end test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from .names import (
    NameRegistry,
    city_name,
    country_name,
    near_namesake,
    org_name,
    person_name,
    river_name,
    unique,
    word,
)

Kind = Literal["country", "river", "city", "org", "person"]
Relation = Literal["country", "river", "headquarters", "founder", "founded", "birthplace", "born", "employer"]

RELATIONS: dict[Kind, tuple[Relation, ...]] = {
    "country": (),
    "river": (),
    "city": ("country", "river"),
    "org": ("founded", "founder", "headquarters"),
    "person": ("birthplace", "born", "employer"),
}
"""The attributes each kind of entity has (countries and rivers are values only)."""

HOBBIES: tuple[str, ...] = (
    "chess", "sailing", "pottery", "astronomy", "gardening", "fencing", "poetry", "cycling", "painting", "rowing",
)  # fmt: skip
PRODUCTS: tuple[str, ...] = (
    "bicycles", "lamps", "ceramics", "software", "bread", "engines", "maps", "textiles", "batteries", "clocks",
)  # fmt: skip
FEATURES: tuple[str, ...] = (
    "its old harbour", "its stone bridges", "its spring market", "its observatory", "its glassworks",
    "its botanical garden", "its railway museum", "its lighthouse",
)  # fmt: skip


@dataclass(frozen=True)
class WorldSize:
    countries: int
    rivers: int
    cities: int
    orgs: int
    people: int
    first_names: int
    distractor_share: float = 0.5
    """Share of cities, organisations and people that get a near-namesake distractor."""
    test_fraction: float = 0.3
    """Share of question subjects whose facts are held out (see `questions.split`)."""


SIZES: dict[str, WorldSize] = {
    # ~420 entities + ~190 distractors; ~440 test and ~1,300 training questions.
    "full": WorldSize(countries=12, rivers=24, cities=60, orgs=80, people=240, first_names=40),
    # The CI size: ~110 test and ~300 training questions, a corpus of ~170 passages.
    "ci": WorldSize(countries=6, rivers=10, cities=20, orgs=24, people=60, first_names=16),
}


@dataclass
class Entity:
    name: str
    kind: Kind
    attrs: dict[str, str] = field(default_factory=dict)
    """Relation -> value (an entity's name, or a year), plus `hobby`/`product`/`feature` filler."""
    distractor_of: str | None = None
    """For a distractor: the real entity whose name it resembles."""

    @property
    def is_distractor(self) -> bool:
        return self.distractor_of is not None


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: Relation
    value: str

    @property
    def id(self) -> str:
        return f"{self.subject}|{self.relation}"


@dataclass
class World:
    seed: int
    size: WorldSize
    entities: dict[str, Entity]
    """Every entity by name, real and distractor, in creation order."""

    def of_kind(self, kind: Kind, *, distractors: bool = False) -> list[Entity]:
        return [e for e in self.entities.values() if e.kind == kind and e.is_distractor == distractors]

    @property
    def facts(self) -> dict[str, Fact]:
        """Every stated fact (real and distractor entities), by id."""
        out: dict[str, Fact] = {}
        for entity in self.entities.values():
            for relation in RELATIONS[entity.kind]:
                fact = Fact(entity.name, relation, entity.attrs[relation])
                out[fact.id] = fact
        return out

    def founded_by(self, person: str) -> Entity | None:
        """The real organisation `person` founded (each founder founded exactly one)."""
        return next((o for o in self.of_kind("org") if o.attrs["founder"] == person), None)


def build_world(size: WorldSize, seed: int = 0) -> World:
    """The world for `seed` (the same seed and size give the same world, entity for entity)."""
    rng = random.Random(seed)
    names = NameRegistry()
    first_names: list[str] = []
    while len(first_names) < size.first_names:
        candidate = word(rng, 2)
        if candidate not in first_names and names.free(candidate):
            first_names.append(candidate)  # a first name alone is never an answer: not registered

    entities: dict[str, Entity] = {}

    def add(name: str, kind: Kind, attrs: dict[str, str], distractor_of: str | None = None) -> Entity:
        entity = Entity(name, kind, attrs, distractor_of)
        entities[name] = entity
        return entity

    countries = [add(unique(rng, names, country_name), "country", {}).name for _ in range(size.countries)]
    rivers = [add(unique(rng, names, river_name), "river", {}).name for _ in range(size.rivers)]

    def city_attrs() -> dict[str, str]:
        return {"country": rng.choice(countries), "river": rng.choice(rivers), "feature": rng.choice(FEATURES)}

    cities = [add(unique(rng, names, city_name), "city", city_attrs()).name for _ in range(size.cities)]
    people = [unique(rng, names, lambda r: person_name(first_names, r)) for _ in range(size.people)]
    if size.orgs >= len(people):
        raise ValueError("a world needs more people than organisations (each has its own founder, and a "
                         "distractor company's founder founded nothing else)")
    founders = rng.sample(people, size.orgs)

    def org_attrs(founder: str) -> dict[str, str]:
        return {"founded": str(rng.randint(1850, 2015)), "founder": founder, "headquarters": rng.choice(cities),
                "product": rng.choice(PRODUCTS)}

    orgs = [add(unique(rng, names, org_name), "org", org_attrs(f)).name for f in founders]

    def person_attrs() -> dict[str, str]:
        return {"birthplace": rng.choice(cities), "born": str(rng.randint(1900, 2000)), "employer": rng.choice(orgs),
                "hobby": rng.choice(HOBBIES)}

    for person in people:
        add(person, "person", person_attrs())

    # Near-namesakes: same attribute types, values from the same pools, never asked about. A
    # distractor company's founder founded nothing else, so "the company founded by X" stays unique.
    others = [p for p in people if p not in set(founders)]
    for kind, pool, attrs_of in (("city", cities, city_attrs), ("org", orgs, None), ("person", people, person_attrs)):
        for original in rng.sample(pool, round(size.distractor_share * len(pool))):
            name = near_namesake(rng, names, original, kind, first_names)
            attrs = attrs_of() if attrs_of is not None else org_attrs(rng.choice(others))
            add(name, kind, attrs, distractor_of=original)  # type: ignore[arg-type]
    return World(seed=seed, size=size, entities=entities)
