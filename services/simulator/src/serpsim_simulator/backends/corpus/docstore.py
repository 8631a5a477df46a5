"""The documents of an index, on disk and read lazily.

`docs.jsonl` holds one `{"id", "title", "text"}` object per line, in index order (row i is
the i-th passage of the corpus); `docs.offsets.npy` holds the n+1 byte offsets of the lines.
Both are memory-mapped at load, so serving a million passages costs page cache, not Python
objects: a hit reads one line and decodes it. The file stays a plain JSONL any tool can read.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from types import TracebackType

import numpy as np
import orjson

from ..base import render_contents
from ..errors import IndexLoadError
from .jsonl import Passage

DOCS = "docs.jsonl"
OFFSETS = "docs.offsets.npy"


class DocStoreWriter:
    """Append passages in index order; `close` writes the offsets."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._file = (self.directory / DOCS).open("wb")
        self._offsets: list[int] = [0]

    def add(self, passage: Passage) -> None:
        line = orjson.dumps({"id": passage.id, "title": passage.title, "text": passage.text}) + b"\n"
        self._file.write(line)
        self._offsets.append(self._offsets[-1] + len(line))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        np.save(self.directory / OFFSETS, np.asarray(self._offsets, dtype=np.int64))

    def __enter__(self) -> DocStoreWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class DocStore:
    """Random access to the stored passages by row."""

    def __init__(self, directory: Path, expected_count: int | None = None) -> None:
        directory = Path(directory)
        docs, offsets = directory / DOCS, directory / OFFSETS
        for path in (docs, offsets):
            if not path.is_file():
                raise IndexLoadError(f"{path}: missing document store file; rebuild the index.")
        try:
            self._offsets = np.load(offsets, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise IndexLoadError(f"{offsets}: corrupt offsets file ({exc}); rebuild the index.") from None
        size = docs.stat().st_size
        if self._offsets.ndim != 1 or len(self._offsets) < 2 or int(self._offsets[-1]) != size:
            raise IndexLoadError(f"{docs}: does not match {OFFSETS} (truncated or corrupt); rebuild the index.")
        if expected_count is not None and len(self._offsets) - 1 != expected_count:
            raise IndexLoadError(
                f"{docs}: holds {len(self._offsets) - 1} documents, the manifest says {expected_count}; rebuild the index."
            )
        # The same memory map seen as a plain ndarray: indexing skips np.memmap's per-item overhead.
        self._offset_view = self._offsets.view(np.ndarray)
        self._file = docs.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.path = docs

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def get(self, row: int) -> Passage:
        start, end = self._offset_view[row : row + 2].tolist()
        try:
            obj = orjson.loads(self._map[start:end])
            return Passage(id=obj["id"], title=obj["title"], text=obj["text"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            # Caught at request time: a store damaged after start-up is a server fault.
            raise IndexLoadError(f"{self.path}: row {row} is corrupt ({exc}); rebuild the index.") from None

    def texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """`"Title"\\ntext` of rows [start, stop): what the encoders and BM25 see."""
        stop = len(self) if stop is None else stop
        return [render_contents(p.title, p.text) for p in map(self.get, range(start, stop))]

    def close(self) -> None:
        self._map.close()
        self._file.close()
