"""What every backend returns: documents with an id, a title, a text, a score and a link.

The routes turn `Hit`s into SerpApi organic results (`title`, `link`, `snippet` = text) or
Search-R1 documents (`{"id", "contents"}`, `contents` = `"Title"\\ntext`); a backend never
shapes a response itself, so one backend serves every API shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from serpsim_protocol import Quality

BackendKind = Literal["simulated", "corpus", "serpapi"]


def render_contents(title: str, text: str) -> str:
    """Search-R1's document form: the title in double quotes, a newline, the text."""
    return f'"{title}"\n{text}'


def parse_contents(contents: str) -> tuple[str, str]:
    """(title, text) from Search-R1's `contents`; the inverse of `render_contents`.

    Search-R1's own retriever takes the first line, stripped of its quotes, as the title and
    the rest as the text. A `contents` without a newline is all text, with no title.
    """
    head, sep, rest = contents.partition("\n")
    if not sep:
        return "", contents.strip()
    title = head.strip()
    if len(title) >= 2 and title[0] == '"' and title[-1] == '"':
        title = title[1:-1]
    return title.strip(), rest.strip()


@dataclass(frozen=True)
class Hit:
    """One retrieved document.

    `id` is stable: the same document has the same id (and `link`) in every answer. `score` is
    the backend's own (BM25, cosine, reciprocal-rank fusion), None where the backend has none
    (real Google). `label` is the simulated noise mix's per-document quality; real search has
    none. `extra` carries fields a real upstream sent that have no slot here (SerpApi's
    `displayed_link`, `date`, `source`...), for the SerpApi shape to pass through.
    """

    id: str
    title: str
    text: str
    link: str
    score: float | None = None
    label: Quality | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def contents(self) -> str:
        return render_contents(self.title, self.text)


@dataclass(frozen=True)
class BackendResult:
    """The hits for one query, ranked, starting at `offset` (SerpApi's `start`)."""

    query: str
    hits: list[Hit]
    offset: int = 0
    total_results: int | None = None


@runtime_checkable
class Backend(Protocol):
    """A named source of documents behind `/search`, `/search.json` and `/retrieve`."""

    name: str
    kind: BackendKind

    async def start(self) -> None:
        """Load indexes / open connections; raise at start-up, never on the first request."""

    def ready(self) -> bool:
        """True once `start` finished."""

    async def search(self, queries: Sequence[str], num: int, offset: int = 0) -> list[BackendResult]:
        """Up to `num` hits per query, from rank `offset` on, one result per query, in order."""

    async def aclose(self) -> None:
        """Release indexes, threads and connections."""
