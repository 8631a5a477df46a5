"""Read a corpus file: one JSON object per line, in either of two forms.

    {"id": "d1", "title": "Paris", "text": "Paris is the capital of France."}
    {"id": "d1", "contents": "\\"Paris\\"\\nParis is the capital of France."}   (Search-R1, wiki-18)

`title` is optional in the first form; in the second, the first line of `contents` (its quotes
stripped) is the title, as Search-R1's retriever reads it. Ids may be strings or integers and
are kept as strings. Blank lines are skipped. Anything else stops the read with a
`CorpusError` naming the file and line: invalid JSON or UTF-8, a line that is not an object, a
missing or empty id, no text, a non-string field, an id seen before, and a file without
documents. A corpus is read once, while the document store is written, so a bad line costs
seconds, never an hour of encoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..base import parse_contents
from ..errors import CorpusError


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


def _field(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CorpusError(f"{where}: `{key}` must be a string, not {type(value).__name__}.")
    return value


def _one_line(title: str) -> str:
    # A title is one line: Search-R1's `contents` ends the title at the first newline.
    return " ".join(title.split())


def parse_line(obj: Any, where: str) -> Passage:
    """One passage from one decoded line; `where` is `path:line` for the error message."""
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}.")
    raw_id = obj.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise CorpusError(f"{where}: missing `id` (a string or an integer).")
    doc_id = str(raw_id).strip()
    if not doc_id:
        raise CorpusError(f"{where}: empty `id`.")
    text = _field(obj, "text", where)
    if text is not None:
        title = _field(obj, "title", where) or ""
    else:
        contents = _field(obj, "contents", where)
        if contents is None:
            raise CorpusError(f"{where}: no text: each line needs `text` (and optionally `title`) or `contents`.")
        title, text = parse_contents(contents)
    text = text.strip()
    if not text:
        raise CorpusError(f"{where}: no text: document {doc_id!r} has an empty text.")
    return Passage(id=doc_id, title=_one_line(title), text=text)


class CorpusReader:
    """Iterate a corpus file's passages once; afterwards `sha256`, `bytes_read` and `count` are set."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.sha256 = ""
        self.bytes_read = 0
        self.count = 0

    def size(self) -> int:
        self._check_exists()
        return self.path.stat().st_size

    def _check_exists(self) -> None:
        if not self.path.is_file():
            raise CorpusError(f"{self.path}: no such corpus file.")

    def __iter__(self) -> Iterator[Passage]:
        self._check_exists()
        digest = hashlib.sha256()
        first_line: dict[str, int] = {}
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                digest.update(raw)
                self.bytes_read += len(raw)
                if not raw.strip():
                    continue
                where = f"{self.path}:{number}"
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise CorpusError(f"{where}: not valid JSON ({exc}).") from None
                passage = parse_line(obj, where)
                seen = first_line.setdefault(passage.id, number)
                if seen != number:
                    raise CorpusError(f"{where}: duplicate id {passage.id!r} (first on line {seen}).")
                self.count += 1
                yield passage
        if self.count == 0:
            raise CorpusError(f"{self.path}: empty corpus: no documents in the file.")
        self.sha256 = digest.hexdigest()
