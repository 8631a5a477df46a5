"""The backends' own helpers; the session's fact corpus and index are in ../conftest.py."""

from __future__ import annotations

from serpsim_simulator.search.query import SearchQuery


def ask(texts: list[str], num: int, offset: int = 0) -> list[SearchQuery]:
    """Plain queries for a backend's `search`, as the search service sends them."""
    return [SearchQuery(query=t, num=num, offset=offset) for t in texts]
