"""What every backend is and returns: the `Backend` protocol, `Hit`s and a `BackendResult` per query.

A backend answers `SearchQuery`s (search/query.py) with ranked hits; it never shapes a
response, so one backend serves every API shape. The API shapes turn `Hit`s into SerpApi
organic results (`title`, `link`, `snippet` = text) or Search-R1 documents (`{"id",
"contents"}`, `contents` = `"Title"\\ntext`). The search service (search/service.py) sits in
front of every backend: it resolves the name, enforces the rules of the backend's kind, admits
the work to the caller's account, serves the cache and records usage; a backend only searches.

Kinds: `simulated` (the simulation LLM, simulation/backend.py), `corpus` (a local index,
corpus/) and `serpapi` (real Google, serpapi/). Only the simulation takes `quality`,
`noise_ratio`, `noise_count`, `question` and `answer`; the real kinds are never sent them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from serpsim_protocol import REAL_BACKEND_KINDS, BackendKind, Quality

if TYPE_CHECKING:
    from ..search.query import SearchQuery

__all__ = ["REAL_KINDS", "Backend", "BackendKind", "BackendResult", "Hit", "Usage"]

REAL_KINDS: frozenset[str] = frozenset(REAL_BACKEND_KINDS)
"""Kinds that search something real: no quality, noise or hints reach them."""


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


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved document.

    `id` is stable: the same document has the same id (and `link`) in every answer. `score` is
    the backend's own (BM25, cosine, reciprocal-rank fusion), None where the backend has none
    (real Google, the simulation). `label` is the simulation's quality for this document
    (`useful` or `noisy`); real search has none. `extra` carries fields with no slot here that
    the SerpApi shape passes through (SerpApi's `displayed_link`, `date`, `source`...).
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


@dataclass(frozen=True, slots=True)
class Usage:
    """The engine work one search cost: nothing for a real backend, or a cache hit."""

    generations: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0


NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class BackendResult:
    """The hits for one query, ranked, starting at `offset` (SerpApi's `start`)."""

    query: str
    hits: list[Hit]
    offset: int = 0
    total_results: int | None = None
    usage: Usage = NO_USAGE


@runtime_checkable
class Backend(Protocol):
    """A named source of documents behind every API shape."""

    name: str
    kind: BackendKind

    async def start(self) -> None:
        """Load indexes / open connections; raise `BackendConfigError` at start-up, never on the
        first request. The simulation starts its engine loading and returns (`ready` says when)."""

    def ready(self) -> bool:
        """True once the backend can answer."""

    def error(self) -> str | None:
        """Why the backend cannot answer (a failed engine load), or None."""

    def identity(self) -> str:
        """What the result cache keys on besides the query: everything about this backend that
        changes its answers (model and sampling; index digest and mode; upstream parameters).
        Settled once `start` returns and the backend is ready."""

    def describe(self) -> dict[str, Any]:
        """Public facts for responses and `/backends` (model, engine, prompt mode; index mode
        and size; upstream engine). Never a secret, a path or a URL."""

    def query_key(self, query: SearchQuery) -> tuple[Any, ...]:
        """The fields of `query` that change this backend's answer (the rest of the cache key)."""

    async def search(self, queries: Sequence[SearchQuery]) -> list[BackendResult]:
        """One result per query, in order: up to `query.num` hits from rank `query.offset` on.
        The service sends each backend one batch per request and has checked the queries
        against the backend's kind."""

    async def aclose(self) -> None:
        """Release indexes, threads and connections."""
