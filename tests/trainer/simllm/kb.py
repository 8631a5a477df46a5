"""A small synthetic knowledge base, and the search records a policy would collect against it.

Facts are (landmark, aspect) -> answer, drawn with a seeded RNG so every answer is distinct within
its aspect. Each question gets two searches, as `collect` would record them: the aspect query,
whose five passages state the fact (useful), and a second query on the same aspect whose passages
are about the landmark but never state the answer (noisy). The rule judge must recover exactly that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LANDMARKS: tuple[str, ...] = (
    "Eiffel Tower", "Golden Gate Bridge", "Amazon River", "Mount Kilimanjaro", "Great Wall of China",
    "Sydney Opera House", "Lake Baikal", "Sahara Desert", "Panama Canal", "Hoover Dam",
    "Mona Lisa", "Hubble Space Telescope", "Apollo 11", "Berlin Wall", "Taj Mahal",
    "Colosseum", "Machu Picchu", "Statue of Liberty", "Big Ben", "Niagara Falls",
    "Titanic", "Wright Flyer", "Rosetta Stone", "Magna Carta", "Suez Canal",
    "Louvre Museum", "Danube River", "Mount Fuji", "Grand Canyon", "Yellowstone Park",
    "Kremlin", "Acropolis", "Stonehenge", "Angkor Wat", "Petra", "Alhambra",
)  # fmt: skip
FIRST = ("John", "Maria", "Henri", "Sofia", "Kenji", "Amara", "Lucas", "Elena", "Omar", "Greta", "Pablo", "Ingrid")
LAST = ("Smith", "Rossi", "Dubois", "Tanaka", "Okafor", "Novak", "Garcia", "Berg", "Kumar", "Weber", "Silva")
CITIES = ("Paris", "London", "Vienna", "Cairo", "Lima", "Tokyo", "Oslo", "Lisbon", "Prague", "Nairobi",
          "Toronto", "Madrid", "Athens", "Dublin", "Seoul", "Geneva", "Rome", "Berlin", "Boston", "Delhi")

# aspect: (question, query, fact sentence, the word a second, unlucky query uses)
ASPECTS: dict[str, tuple[str, str, str, str]] = {
    "designer": ("Who designed the {e}?", "who designed {e}", "The {e} was designed by {v}.", "designer"),
    "opening": ("When did the {e} open?", "{e} opening year", "The {e} opened in {v}.", "opening"),
    "keeper": ("Which city keeps the records of the {e}?", "{e} records city", "The records of the {e} are kept in {v}.",
               "records"),
}
UNLUCKY = ("{e} {w} rumors", "{e} {w} debate", "{e} {w} trivia")
USEFUL = (
    "{fact} Historians agree on this fact about the {e}.",
    "According to official sources, {fact_lower}",
    "{fact} This detail is confirmed by many reference books.",
    "A short guide to the {e}: {fact_lower} Visitors often look it up first.",
    "{fact} Encyclopedias and museum guides describe it in detail.",
)
NOISY = (
    "The {e} is often confused with other famous sites, and local experts still debate its story.",
    "Travel blogs about the {e} focus on ticket prices, crowds and nearby restaurants.",
    "Rumors about the {e} have spread for decades, and several claims were later shown to be misleading.",
    "The {e} has been the subject of films, songs and souvenirs that say little about its history.",
    "Weather, traffic and tourism around the {e} are common topics in online forums.",
)


@dataclass(frozen=True)
class Fact:
    landmark: str
    aspect: str
    answer: str

    @property
    def question(self) -> str:
        return ASPECTS[self.aspect][0].format(e=self.landmark)

    @property
    def query(self) -> str:
        return ASPECTS[self.aspect][1].format(e=self.landmark)

    def unlucky_query(self, index: int) -> str:
        """A second search about the same aspect that finds only chatter (noisy documents)."""
        return UNLUCKY[index % len(UNLUCKY)].format(e=self.landmark, w=ASPECTS[self.aspect][3])

    @property
    def sentence(self) -> str:
        return ASPECTS[self.aspect][2].format(e=self.landmark, v=self.answer)


def facts(seed: int = 0, n_landmarks: int = len(LANDMARKS)) -> list[Fact]:
    rng = random.Random(seed)
    people = rng.sample([f"{f} {last}" for f in FIRST for last in LAST], n_landmarks)
    years = rng.sample(range(1500, 2000), n_landmarks)
    out = []
    for i, landmark in enumerate(LANDMARKS[:n_landmarks]):
        out.append(Fact(landmark, "designer", people[i]))
        out.append(Fact(landmark, "opening", str(years[i])))
        out.append(Fact(landmark, "keeper", rng.choice(CITIES)))
    return out


def useful_documents(fact: Fact) -> list[str]:
    sentence = fact.sentence
    lower = sentence[0].lower() + sentence[1:]
    return [t.format(e=fact.landmark, fact=sentence, fact_lower=lower) for t in USEFUL]


def noisy_documents(fact: Fact) -> list[str]:
    return [t.format(e=fact.landmark) for t in NOISY]


def records(fact_list: list[Fact], backend: str = "corpus") -> list[dict[str, object]]:
    """Two search records per fact, in `collect`'s format: the aspect query (useful documents) and
    an unlucky query on the same aspect (noisy documents). Odd facts were answered right, even ones wrong."""
    rows: list[dict[str, object]] = []
    for i, fact in enumerate(fact_list):
        final = fact.answer if i % 2 else "unknown"
        common = {"trajectory_id": f"kb-{i}", "question": fact.question, "answers": [fact.answer],
                  "final_answer": final, "backend": backend}
        rows.append({**common, "query": fact.query, "documents": useful_documents(fact), "turn": 0})
        rows.append({**common, "query": fact.unlucky_query(i), "documents": noisy_documents(fact),
                     "turn": 1})
    return rows
