"""Search-R1's batch retrieval contract (`POST /retrieve`), exactly as its retrieval server
(`search_r1/search/retrieval_server.py`) speaks it, and every search-RL framework after it.

Request `{"queries": [...], "topk": k, "return_scores": bool}`: a null (or 0) `topk` means the
server's default, 3; `return_scores` defaults to false. Response `{"result": [[item, ...], ...]}`,
one list per query. Without scores an item is the bare corpus row `{"id", "contents"}`; with
them, `{"document": {"id", "contents"}, "score": s}`. `contents` is `"Title"\\ntext`, the title in
double quotes as Search-R1's wiki-18 corpus has it.

serpsim's additions, all optional: `no_cache`; batch-wide `backend`, `noise_ratio` and
`noise_count`; batch-wide `quality`, `question`, `answer` and `seed`; and, per query, an object in
place of the string, `{"query", "quality", "question", "answer", "seed"}`, whose values take
precedence over the batch-wide ones. Objects rather than
lists parallel to `queries`: a schema can say what an object holds, not that two lists have the
same length, and the published schema must say exactly what the server accepts.
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BeforeValidator, Field, PlainSerializer, StrictBool

from .common import BACKEND_NAME, MAX_SEED, NonBlank, Quality, WireModel

DEFAULT_TOPK = 3
"""Search-R1's server default (`--topk 3`), used when a request's `topk` is null or 0."""



def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: a number with no fraction (4 or 4.0), never `false` or `"4"`,
    which pydantic's lax mode would take as 0 and 4."""
    if isinstance(value, bool | str):
        raise ValueError("Input should be a valid integer")
    return value


def json_integer(*constraints: Any) -> Any:
    """`int` as JSON Schema's integer, with `constraints` (`Ge(0)`...). They go before the
    validator: placed after it, pydantic's schema would carry them as unknown keys."""
    return Annotated[int, *constraints, BeforeValidator(_json_integer)]


def _json_number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("Input should be a valid number")
    return value


def json_number(*constraints: Any) -> Any:
    """`float` as JSON Schema's number: never `true` or `"0.5"`, which pydantic's lax mode takes."""
    return Annotated[float, *constraints, BeforeValidator(_json_number)]


Seed = json_integer(Ge(0), Le(MAX_SEED))
TopK = json_integer(Ge(0))
NoiseRatio = json_number(Ge(0), Le(1))
NoiseCount = json_integer(Ge(0), Le(100))


class RetrieveQuery(WireModel):
    """One query with its own serpsim values; unset ones fall back to the request's."""

    query: NonBlank
    quality: Quality | None = None
    question: str | None = None
    answer: str | None = None
    seed: Seed | None = None


class RetrieveRequest(WireModel):
    queries: list[NonBlank | RetrieveQuery] = Field(min_length=1)
    topk: TopK | None = Field(default=None, description="Documents per query; null or 0: 3.")
    return_scores: StrictBool = False
    no_cache: StrictBool = Field(default=False, description="serpsim: skip the result cache's read (a fresh sample).")
    backend: str | None = Field(
        default=None, pattern=BACKEND_NAME, description="serpsim: the backend to search (default: the server's first)."
    )
    noise_ratio: NoiseRatio | None = Field(
        default=None, description="serpsim, simulation only: each document noisy with this share."
    )
    noise_count: NoiseCount | None = Field(
        default=None, description="serpsim, simulation only: this many noisy documents per query (at most topk)."
    )
    quality: Quality | None = Field(default=None, description="serpsim: useful or noisy documents, for every query.")
    question: str | None = Field(default=None, description="serpsim: the question, for every query.")
    answer: str | None = Field(default=None, description="serpsim: its gold answer, for every query.")
    seed: Seed | None = Field(default=None, description="serpsim: sampling seed, for every query.")

    @property
    def k(self) -> int:
        """Documents per query: `topk`, or the default when it is null or 0 (Search-R1's `not topk`)."""
        return self.topk or DEFAULT_TOPK

    def resolved(self) -> list[RetrieveQuery]:
        """Every query as an object, the batch-wide values filling what it leaves unset."""
        out = []
        for entry in self.queries:
            item = RetrieveQuery(query=entry) if isinstance(entry, str) else entry
            out.append(
                RetrieveQuery(
                    query=item.query,
                    quality=item.quality if item.quality is not None else self.quality,
                    question=item.question if item.question is not None else self.question,
                    answer=item.answer if item.answer is not None else self.answer,
                    seed=item.seed if item.seed is not None else self.seed,
                )
            )
        return out


class RetrievedDocument(WireModel):
    """A corpus row: `contents` is `"Title"\\ntext`."""

    id: str
    contents: str

    @property
    def title(self) -> str:
        """The first line, without the double quotes Search-R1's corpus puts around it."""
        first = self.contents.split("\n", 1)[0]
        return first[1:-1] if len(first) >= 2 and first[0] == first[-1] == '"' else first

    @property
    def text(self) -> str:
        parts = self.contents.split("\n", 1)
        return parts[1] if len(parts) > 1 else ""


class RetrieveHit(WireModel):
    document: RetrievedDocument
    score: float | None = None


def _hit_from_either(value: Any) -> Any:
    """A bare row (`return_scores` false) read as a hit without a score."""
    if isinstance(value, dict) and "document" not in value and "contents" in value:
        return {"document": value}
    return value


def _either_from_hit(hit: RetrieveHit) -> RetrieveHit | RetrievedDocument:
    """Written back as Search-R1 does: the bare row when there is no score."""
    return hit.document if hit.score is None else hit


RetrieveItem = Annotated[
    RetrieveHit,
    BeforeValidator(_hit_from_either),
    PlainSerializer(_either_from_hit, return_type=RetrieveHit | RetrievedDocument),
]
"""One result item. Read from either of Search-R1's forms into a `RetrieveHit`, so callers see
one model (`hit.document.title`), and written as the form the request asked for."""


class RetrieveResponse(WireModel):
    result: list[list[RetrieveItem]]


class RetrieveError(WireModel):
    """Error shape on `/retrieve` (FastAPI's own `{"detail": ...}`, which Search-R1 clients log)."""

    detail: str


__all__ = [
    "DEFAULT_TOPK",
    "RetrieveError",
    "RetrieveHit",
    "RetrieveItem",
    "RetrieveQuery",
    "RetrieveRequest",
    "RetrieveResponse",
    "RetrievedDocument",
    "json_integer",
    "json_number",
]
