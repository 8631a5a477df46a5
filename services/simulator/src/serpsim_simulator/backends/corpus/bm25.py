"""BM25 with bm25s: build, save, load memory-mapped, search batches.

What is indexed: each passage's `"Title"\\ntext`, as Search-R1's pyserini index indexes
`contents` (title and text together).

Tokenisation, identical for passages and queries (and recorded in the manifest):
- lowercase, then tokens are runs of two or more word characters, `(?u)\\b\\w\\w+\\b`
  (scikit-learn's CountVectorizer pattern, bm25s's default): single letters are dropped;
- English stopwords removed (bm25s's list, NLTK's);
- Snowball English stemming (PyStemmer), so "capitals" matches "capital".
Scoring: bm25s's Lucene variant with k1 = 0.9 and b = 0.4, the defaults of pyserini/Anserini,
which Search-R1's BM25 retriever runs on.

Serving: the score matrix is memory-mapped (`load(mmap=True)`); retrieval uses bm25s's numba
backend when numba imports (about 30 times faster than numpy here), serially per call
(`n_threads=1`: numba's serial kernel releases the GIL, so concurrent calls from a thread pool
run in parallel and stay thread-safe). A query none of whose terms is in the vocabulary gets no
hits, and hits scoring 0 are dropped: BM25 found nothing, so nothing is returned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import IndexLoadError
from .fusion import Ranking
from .manifest import Bm25Info

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
STOPWORDS = "en"
STEMMER = "english"
METHOD = "lucene"
K1 = 0.9
B = 0.4

def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def cache_numba_kernels() -> None:
    """Keep bm25s's compiled retrieval kernels on disk between processes.

    bm25s 0.3.16 compiles its numba kernels without `cache=True`, so every process pays the
    compilation on its first query: about 10 s here, each time a server starts. Turning on
    numba's cache for them (before their first call) cuts that to ~0.2 s after the first run.
    The kernels are module attributes of bm25s (pinned), looked up defensively: if a release
    renames them, retrieval still works, it only compiles at start-up again.
    """
    from bm25s.numba import retrieve_utils

    for name in ("_retrieve_internal_jitted_serial", "_retrieve_internal_jitted_parallel"):
        kernel = getattr(retrieve_utils, name, None)
        if kernel is not None and hasattr(kernel, "enable_caching"):
            kernel.enable_caching()  # idempotent: a fresh handle on the same cache files


def _stemmer(name: str | None) -> Any:
    if name is None:
        return None
    import Stemmer

    return Stemmer.Stemmer(name)


def build_bm25(
    texts: Iterable[str], directory: Path, *, k1: float = K1, b: float = B, progress: bool = True
) -> Bm25Info:
    """Tokenise `texts` (in row order), index them and save the index to `directory`."""
    import bm25s

    tokens = bm25s.tokenize(
        texts, lower=True, token_pattern=TOKEN_PATTERN, stopwords=STOPWORDS, stemmer=_stemmer(STEMMER),
        show_progress=progress,
    )
    model = bm25s.BM25(method=METHOD, k1=k1, b=b)
    model.index(tokens, show_progress=progress)
    model.save(directory, show_progress=progress)
    return Bm25Info(
        library_version=bm25s.__version__, method=METHOD, k1=k1, b=b, lower=True, token_pattern=TOKEN_PATTERN,
        stopwords=STOPWORDS, stemmer=STEMMER,
    )


class Bm25Index:
    """A saved bm25s index, memory-mapped, answering batches of queries."""

    def __init__(self, directory: Path, info: Bm25Info, documents: int, mmap: bool = True) -> None:
        import bm25s

        self.info = info
        self.backend = "numba" if numba_available() else "numpy"
        if self.backend == "numba":
            cache_numba_kernels()
        try:
            self.model = bm25s.BM25.load(directory, mmap=mmap, backend=self.backend, show_progress=False)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexLoadError(f"{directory}: corrupt BM25 index ({type(exc).__name__}: {exc}); rebuild the index.") from None
        if self.model.scores.get("num_docs") != documents:
            raise IndexLoadError(
                f"{directory}: BM25 index of {self.model.scores.get('num_docs')} documents, the manifest says {documents}; "
                "rebuild the index."
            )
        self.documents = documents
        # PyStemmer's stemmers keep per-object state; one per thread keeps concurrent queries apart.
        self._local = threading.local()

    def _tokenize(self, queries: Sequence[str]) -> list[list[int]]:
        import bm25s

        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = _stemmer(self.info.stemmer)
        tokens = bm25s.tokenize(
            list(queries), lower=self.info.lower, token_pattern=self.info.token_pattern,
            stopwords=self.info.stopwords, stemmer=stemmer, return_ids=False, show_progress=False,
        )
        return [self.model.get_tokens_ids(t) for t in tokens]

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the retrieval kernel now, not on a user's query."""
        token_id = next(iter(self.model.vocab_dict.values()))
        self.model.retrieve([[token_id]], k=1, show_progress=False, n_threads=1)

    def search(self, queries: Sequence[str], k: int, threads: int = 1) -> list[Ranking]:
        """The top `k` (row, score) of each query, best first; scores of 0 are no match."""
        ids = self._tokenize(queries)
        out: list[Ranking] = [[] for _ in queries]
        live = [i for i, q in enumerate(ids) if q]
        k = min(k, self.documents)
        if not live or k <= 0:
            return out
        rows, scores = self.model.retrieve(
            [ids[i] for i in live], k=k, show_progress=False, n_threads=threads, return_as="tuple"
        )
        for i, row_list, score_list in zip(live, rows.tolist(), scores.tolist()):
            # Equal scores (same-template passages, duplicates) come back in no fixed order; by row they do.
            out[i] = sorted(((r, s) for r, s in zip(row_list, score_list) if s > 0), key=lambda h: (-h[1], h[0]))
        return out
