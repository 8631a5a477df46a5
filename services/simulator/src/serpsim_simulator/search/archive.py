"""The search archive, for SerpApi's Search Archive API (`/searches/{id}.json`): recent responses
by id, whichever backend answered them.

`Archive` is the interface the search service holds; `MemoryArchive` keeps the newest
`capacity` responses in this process (older ones are forgotten: SerpApi answers 404/410). A
shared store (Redis) implements the same two methods.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol


class Archive(Protocol):
    def put(self, search_id: str, response: dict[str, Any]) -> None: ...

    def get(self, search_id: str) -> dict[str, Any] | None: ...


class MemoryArchive:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, search_id: str, response: dict[str, Any]) -> None:
        self._items[search_id] = response
        self._items.move_to_end(search_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, search_id: str) -> dict[str, Any] | None:
        return self._items.get(search_id)

    def __len__(self) -> int:
        return len(self._items)
