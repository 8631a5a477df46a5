"""The manifest of an index directory: what was indexed, how, and which files belong to it.

    OUT/manifest.json        this file (written last: a directory without it is not an index)
    OUT/docs.jsonl           document store (docstore.py)
    OUT/docs.offsets.npy
    OUT/bm25/                bm25s's own save format (bm25.py)
    OUT/dense.faiss          faiss index (dense.py)

`load` checks the format version, the kinds, the counts and every file's size before serving,
so a missing, truncated or foreign file is a clear start-up error. Sizes, not checksums: hashing
gigabytes would turn a start-up of seconds into minutes; the corpus digest identifies the input.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..errors import IndexLoadError

FORMAT = "serpsim-corpus-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

IndexKind = Literal["bm25", "dense"]


class CorpusInfo(BaseModel):
    path: str
    sha256: str
    bytes: int
    documents: int


class Bm25Info(BaseModel):
    """How the BM25 index was built; queries are tokenised the same way."""

    library_version: str
    method: str
    k1: float
    b: float
    lower: bool
    token_pattern: str
    stopwords: str
    stemmer: str | None
    directory: str = "bm25"


class DenseInfo(BaseModel):
    """How the dense index was built; the serving model must produce the same embeddings."""

    model: str
    model_fingerprint: str
    dim: int
    query_prefix: str
    passage_prefix: str
    factory: str
    metric: Literal["inner_product"] = "inner_product"
    normalized: bool = True
    faiss_version: str
    file: str = "dense.faiss"


class Manifest(BaseModel):
    format: Literal["serpsim-corpus-index"] = FORMAT
    format_version: int = FORMAT_VERSION
    created_at: str
    corpus: CorpusInfo
    kinds: list[IndexKind]
    bm25: Bm25Info | None = None
    dense: DenseInfo | None = None
    files: dict[str, int]
    """Every file of the index (relative path) and its size in bytes."""
    build_timings: dict[str, float] = {}
    """Seconds per build phase (read_corpus_s, bm25_s, dense_s...), for the benchmarks."""

    @property
    def documents(self) -> int:
        return self.corpus.documents


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def file_sizes(directory: Path) -> dict[str, int]:
    return {
        str(p.relative_to(directory)): p.stat().st_size
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def write_manifest(directory: Path, manifest: Manifest) -> None:
    (directory / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")


def read_manifest(directory: Path) -> Manifest:
    """The manifest of `directory`, checked against the files beside it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise IndexLoadError(f"{directory}: no such index directory; build one with `serpsim-simulator index`.")
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexLoadError(f"{directory}: not an index directory (no {MANIFEST}); build one with `serpsim-simulator index`.")
    try:
        raw = path.read_bytes()
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        version = _declared_version(raw)
        if version is not None and version != FORMAT_VERSION:
            raise IndexLoadError(_version_message(path, version)) from None
        raise IndexLoadError(f"{path}: corrupt manifest ({exc.error_count()} errors: {exc.errors()[0]['msg']}).") from None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexLoadError(_version_message(path, manifest.format_version))
    if ("bm25" in manifest.kinds) != (manifest.bm25 is not None) or ("dense" in manifest.kinds) != (manifest.dense is not None):
        raise IndexLoadError(f"{path}: corrupt manifest (kinds {manifest.kinds} do not match its sections).")
    for name, size in manifest.files.items():
        file = directory / name
        if not file.is_file():
            raise IndexLoadError(f"{file}: missing index file; rebuild the index.")
        if file.stat().st_size != size:
            raise IndexLoadError(
                f"{file}: {file.stat().st_size} bytes, the manifest says {size} (truncated or replaced); rebuild the index."
            )
    return manifest


def _declared_version(raw: bytes) -> int | None:
    try:
        value = json.loads(raw).get("format_version")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _version_message(path: Path, version: int) -> str:
    return (
        f"{path}: index format version {version}, this serpsim reads version {FORMAT_VERSION}; "
        "rebuild the index with this version's `serpsim-simulator index`."
    )
