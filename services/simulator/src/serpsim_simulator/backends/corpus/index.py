"""A loaded index directory: ranked hits per query in the mode asked, with stable links.

`CorpusIndex.load` checks the manifest and every file, memory-maps the document store and the
BM25 scores, and reads the faiss index in place; a corpus of a million passages is ready in
seconds. `search` is synchronous and thread-safe; the async backend runs it in a thread pool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from ..base import BackendResult, Hit
from ..errors import BackendConfigError
from .bm25 import Bm25Index
from .docstore import DocStore
from .fusion import RRF_K, Ranking, reciprocal_rank_fusion
from .manifest import Manifest, read_manifest

if TYPE_CHECKING:
    from .dense import DenseIndex

SearchMode = Literal["bm25", "dense", "hybrid"]

LINK_BASE = "https://corpus.serpsim.example/doc/"
"""Document links live under a reserved domain (RFC 2606) and carry the corpus id, so a document
keeps its link across searches, pages, modes and rebuilds."""

HYBRID_CANDIDATES = 50
"""Hits taken from each retriever before fusion (at least offset + num)."""

DEPTH_STEP = 10
"""Retrieval depth is offset + num rounded up to a multiple of this. Which of several equally
scored documents make a top k depends on k, so fetching pages 1 and 2 with the same k keeps a
tie group from showing on both pages (or neither): pages of 10 (Google's) and below always do."""


_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def document_link(doc_id: str) -> str:
    return LINK_BASE + (doc_id if _URL_SAFE.fullmatch(doc_id) else quote(doc_id, safe=""))


class CorpusIndex:
    def __init__(
        self, directory: Path, manifest: Manifest, store: DocStore, bm25: Bm25Index | None, dense: DenseIndex | None
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.store = store
        self.bm25 = bm25
        self.dense = dense

    @classmethod
    def load(
        cls, directory: Path, *, model: Path | None = None, device: str = "cpu", mmap: bool = True,
        faiss_params: Mapping[str, float] | None = None,
    ) -> CorpusIndex:
        """Open a built index. `model`: the dense model's directory, if not where it was at build."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        store = DocStore(directory, expected_count=manifest.documents)
        try:
            bm25 = dense = None
            if manifest.bm25 is not None:
                bm25 = Bm25Index(directory / manifest.bm25.directory, manifest.bm25, manifest.documents, mmap=mmap)
            if manifest.dense is not None:
                from .dense import DenseIndex, Encoder

                info = manifest.dense
                model_dir = Path(model) if model is not None else Path(info.model)
                if not model_dir.is_dir():
                    raise BackendConfigError(
                        f"{directory}: the dense index needs its model, and {model_dir} is not a directory; "
                        "set the backend's `model` to where the model is now."
                    )
                encoder = Encoder(model_dir, query_prefix=info.query_prefix, passage_prefix=info.passage_prefix, device=device)
                dense = DenseIndex(directory / info.file, info, manifest.documents, encoder, mmap=mmap, params=faiss_params)
        except BaseException:
            store.close()
            raise
        return cls(directory, manifest, store, bm25, dense)

    def warm_up(self) -> None:
        """One query through each retriever, so the first user's query pays no compilation."""
        if self.bm25 is not None:
            self.bm25.warm_up()
        if self.dense is not None:
            self.dense.search(["warm up"], 1)

    @property
    def modes(self) -> tuple[SearchMode, ...]:
        modes: list[SearchMode] = []
        if self.bm25 is not None:
            modes.append("bm25")
        if self.dense is not None:
            modes.append("dense")
        if len(modes) == 2:
            modes.append("hybrid")
        return tuple(modes)

    def check_mode(self, mode: SearchMode) -> None:
        if mode not in self.modes:
            raise BackendConfigError(
                f"{self.directory}: mode {mode!r} needs an index this directory lacks; it serves {', '.join(self.modes)}."
            )

    def rank(self, queries: Sequence[str], depth: int, mode: SearchMode, *, rrf_k: int = RRF_K,
             candidates: int = HYBRID_CANDIDATES) -> list[Ranking]:
        """The top `depth` (row, score) per query."""
        self.check_mode(mode)
        bm25, dense = self.bm25, self.dense
        if mode == "bm25" and bm25 is not None:
            return bm25.search(queries, depth)
        if mode == "dense" and dense is not None:
            return dense.search(queries, depth)
        assert bm25 is not None and dense is not None  # check_mode: hybrid needs both
        pool = max(depth, candidates)
        lexical = bm25.search(queries, pool)
        semantic = dense.search(queries, pool)
        return [reciprocal_rank_fusion([a, b], k=rrf_k)[:depth] for a, b in zip(lexical, semantic)]

    def hit(self, row: int, score: float) -> Hit:
        p = self.store.get(row)
        return Hit(id=p.id, title=p.title, text=p.text, link=document_link(p.id), score=float(score))

    def search(self, queries: Sequence[str], num: int, offset: int = 0, mode: SearchMode = "bm25", *,
               rrf_k: int = RRF_K, candidates: int = HYBRID_CANDIDATES) -> list[BackendResult]:
        depth = -(-(offset + num) // DEPTH_STEP) * DEPTH_STEP
        rankings = self.rank(queries, depth, mode, rrf_k=rrf_k, candidates=candidates)
        return [
            BackendResult(query=q, hits=[self.hit(row, score) for row, score in ranking[offset : offset + num]], offset=offset)
            for q, ranking in zip(queries, rankings)
        ]

    def close(self) -> None:
        self.store.close()
