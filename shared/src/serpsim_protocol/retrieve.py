"""Search-R1's batch retrieval contract (`POST /retrieve`), spoken by every search-RL framework.

Request `{"queries": [...], "topk": k, "return_scores": bool}`; response
`{"result": [[{"document": {"id", "contents"}, "score"}]]}` with `contents` = `"Title"\\ntext`.
serpsim adds optional `quality`, `question`, `answer` and `seed`, each one value for the batch or
a list aligned with `queries`.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, model_validator

from .common import Quality, WireModel

T = TypeVar("T")

PerQuery = T | list[T]
"""One value for the whole batch, or one per query."""


def per_query(value: T | list[T] | None, n: int, name: str) -> list[T | None]:
    """Expand a batch-wide or per-query field to exactly `n` values."""
    if isinstance(value, list):
        if len(value) != n:
            raise ValueError(f"`{name}` has {len(value)} values for {n} queries")
        return list(value)
    return [value] * n


class RetrieveRequest(WireModel):
    queries: list[str] = Field(min_length=1)
    topk: int = Field(default=3, ge=1)
    return_scores: bool = True
    quality: Quality | list[Quality] | None = None
    question: str | list[str | None] | None = None
    answer: str | list[str | None] | None = None
    seed: int | list[int | None] | None = None

    @model_validator(mode="after")
    def _aligned(self) -> RetrieveRequest:
        n = len(self.queries)
        for name in ("quality", "question", "answer", "seed"):
            per_query(getattr(self, name), n, name)
        return self


class RetrievedDocument(WireModel):
    id: str
    contents: str

    @property
    def title(self) -> str:
        return self.contents.split("\n", 1)[0]

    @property
    def text(self) -> str:
        parts = self.contents.split("\n", 1)
        return parts[1] if len(parts) > 1 else ""


class RetrieveHit(WireModel):
    document: RetrievedDocument
    score: float | None = None


class RetrieveResponse(WireModel):
    result: list[list[RetrieveHit]]


class RetrieveError(WireModel):
    """Error shape on `/retrieve` (FastAPI's own `{"detail": ...}`, which Search-R1 clients log)."""

    detail: str


__all__ = [
    "PerQuery",
    "RetrieveError",
    "RetrieveHit",
    "RetrieveRequest",
    "RetrieveResponse",
    "RetrievedDocument",
    "per_query",
]
