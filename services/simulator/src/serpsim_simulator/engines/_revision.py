"""Which version of a checkpoint an engine serves, for the result cache's key (cache.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def checkpoint_revision(model: str, commit: str | None = None) -> str:
    """A label that changes when the checkpoint does.

    A local directory: a digest of its files' names, sizes and modification times (cheap for
    weights of any size; a retrained or re-copied checkpoint gets another one). A hub id: the
    commit transformers resolved it to (`commit`), when known. `engine.model_revision` replaces
    this altogether.
    """
    path = Path(model)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.iterdir() if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return "files:" + digest.hexdigest()[:16]
    return f"hub:{commit or 'unknown'}"
