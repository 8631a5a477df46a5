"""`SearchResult`: one query's answer, as `SearchService.run` hands it to an API shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..backends.base import BackendKind, Hit, Usage
from .query import SearchQuery


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: SearchQuery
    hits: list[Hit]
    """Ranked, the first at rank `query.offset`; at most `query.num`."""
    backend: str
    """The name of the backend that answered (the query's, or the default)."""
    kind: BackendKind
    info: Mapping[str, Any]
    """The backend's public facts (`Backend.describe`): model, engine and prompt mode; index and mode."""
    usage: Usage
    """The engine work these documents took (none for a real backend); a cache hit reports the
    original generation's and `cached` says that nobody paid for it again."""
    cached: bool = False
    total_results: int | None = None
    """The backend's count of matches, where it has one (SerpApi's `total_results`)."""

    @property
    def labels(self) -> list[str | None]:
        """Each hit's simulated quality, in order (None for real search)."""
        return [hit.label for hit in self.hits]
