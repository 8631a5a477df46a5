"""An independent reader of a written world: it resolves a question by reading passages the way a
person would (find the passage titled with the entity, read the relation's sentence, follow the
bridge), with its own patterns, never with the world's generator code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# question text -> (template, the chain of (relation, reads its subject from) ...)
QUESTION_PATTERNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (r"Where was (.+) born\?", "birthplace", ("birthplace",)),
    (r"In which year was the company (.+) works for founded\?", "employer_founded", ("employer", "founded")),
    (r"In which year was (.+) born\?", "born", ("born",)),
    (r"Which company does (.+) work for\?", "employer", ("employer",)),
    (r"Where is the company founded by (.+) headquartered\?", "founded_by_headquarters",
     ("founded_by", "headquarters")),
    (r"Where is the company (.+) works for headquartered\?", "employer_headquarters", ("employer", "headquarters")),
    (r"In which country is (.+) headquartered\?", "headquarters_country", ("headquarters", "country")),
    (r"Where is (.+) headquartered\?", "headquarters", ("headquarters",)),
    (r"Who founded (.+)\?", "founder", ("founder",)),
    (r"In which year was (.+) founded\?", "founded", ("founded",)),
    (r"In which country was (.+) born\?", "birth_country", ("birthplace", "country")),
    (r"In which country is (.+)\?", "country", ("country",)),
    (r"Which river flows through the birthplace of (.+)\?", "birth_river", ("birthplace", "river")),
    (r"Which river flows through (.+)\?", "river", ("river",)),
)

NAME = r"([A-Z][a-z]+(?: [A-Z][a-z]+)?)"
YEAR = r"(\d{4})"


def statement_patterns(subject: str) -> dict[str, str]:
    """Relation -> a pattern whose group 1 is the value, for sentences about `subject`."""
    s = re.escape(subject)
    return {
        "birthplace": rf"\b{s} was born in (?:\d{{4}} in )?{NAME}(?: in \d{{4}})?\.",
        "born": rf"\b{s} was born in (?:[A-Z][a-z]+ in )?{YEAR}",
        "employer": rf"\b{s} works for {NAME}\.",
        "headquarters": rf"\b{s} is headquartered in {NAME}\.",
        "founder": rf"\b{s} was founded (?:in \d{{4}} )?by {NAME}(?: in \d{{4}})?\.",
        "founded": rf"\b{s} was founded (?:by [A-Z][a-z]+ [A-Z][a-z]+ )?in {YEAR}",
        "country": rf"\b{s} is a city in {NAME}\.",
        "river": rf"\b{s} lies on the {NAME} river\.",
    }


@dataclass
class Reading:
    answer: str
    facts: list[str]
    """`subject|relation` of each fact read, in order."""
    passages: list[str]
    """Id of the passage each fact was read from."""


class Reader:
    def __init__(self, world_dir: Path) -> None:
        self.passages = [json.loads(line) for line in (world_dir / "corpus.jsonl").read_text().splitlines()]
        self.by_title = {p["title"]: p for p in self.passages}
        self.by_id = {p["id"]: p for p in self.passages}

    def stating(self, subject: str, relation: str) -> list[str]:
        """Ids of every passage with a sentence stating `relation` of `subject`."""
        pattern = statement_patterns(subject)[relation]
        return [p["id"] for p in self.passages if re.search(pattern, p["text"])]

    def read(self, subject: str, relation: str) -> tuple[str, str]:
        """(value, passage id) of `relation` of `subject`, from the passage titled `subject`."""
        passage = self.by_title[subject]
        match = re.search(statement_patterns(subject)[relation], passage["text"])
        if match is None:
            raise LookupError(f"{passage['id']} ({subject}) states no {relation}")
        return match.group(1), passage["id"]

    def founded_by(self, person: str) -> tuple[str, str]:
        """(company, passage id) of the one passage saying `person` founded a company."""
        pattern = rf"^{NAME} was founded (?:in \d{{4}} )?by {re.escape(person)}\b|\. {NAME} was founded (?:in \d{{4}} )?by {re.escape(person)}\b"
        hits = [(m.group(1) or m.group(2), p["id"]) for p in self.passages if (m := re.search(pattern, p["text"]))]
        if len(hits) != 1:
            raise LookupError(f"{len(hits)} passages say {person} founded a company")
        return hits[0]

    def resolve(self, question: str) -> tuple[str, Reading]:
        for pattern, template, chain in QUESTION_PATTERNS:
            match = re.fullmatch(pattern, question)
            if match is None:
                continue
            subject, facts, passages = match.group(1), [], []
            for relation in chain:
                if relation == "founded_by":
                    company, pid = self.founded_by(subject)
                    facts.append(f"{company}|founder")
                    passages.append(pid)
                    subject = company
                    continue
                value, pid = self.read(subject, relation)
                facts.append(f"{subject}|{relation}")
                passages.append(pid)
                subject = value
            return template, Reading(answer=subject, facts=facts, passages=passages)
        raise LookupError(f"no pattern reads {question!r}")
