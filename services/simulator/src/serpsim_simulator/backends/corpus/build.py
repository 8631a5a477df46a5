"""Build an index directory from a corpus file (`serpsim-simulator index CORPUS OUT`).

Order matters for a user's time: the model loads and the faiss factory string is checked
first, then the corpus is read and validated once (writing the document store), and only then
do the slow steps run (BM25 tokenising, passage encoding). Everything is written to a hidden
sibling directory that is renamed to OUT at the end, with the manifest written last, so an
interrupted or failed build never leaves a directory that looks like an index.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..base import render_contents
from ..errors import IndexBuildError
from .bm25 import K1, B, build_bm25
from .docstore import DocStore, DocStoreWriter
from .jsonl import CorpusReader
from .manifest import CorpusInfo, DenseInfo, IndexKind, Manifest, file_sizes, now, write_manifest

if TYPE_CHECKING:
    from tqdm import tqdm

    from .dense import Encoder

ENCODE_CHUNK = 4096
"""Passages handed to the encoder at once: it sorts each chunk by length before batching."""


@dataclass(frozen=True)
class BuildOptions:
    bm25: bool = True
    dense_model: Path | None = None
    factory: str = "Flat"
    query_prefix: str = ""
    passage_prefix: str = ""
    batch_size: int = 64
    device: str = "cpu"
    k1: float = K1
    b: float = B
    seed: int = 0


def _bar(total: int, desc: str, unit: str, progress: bool) -> tqdm:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not progress, leave=True)


def _contents(store: DocStore) -> Iterator[str]:
    for row in range(len(store)):
        p = store.get(row)
        yield render_contents(p.title, p.text)


def build_index(
    corpus: Path, out: Path, options: BuildOptions, *, overwrite: bool = False, progress: bool = True
) -> Manifest:
    corpus, out = Path(corpus), Path(out)
    if not options.bm25 and options.dense_model is None:
        raise IndexBuildError("Nothing to build: BM25 is off and no dense model is given (--dense MODEL_DIR).")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise IndexBuildError(f"{out}: already exists and is not empty; pass --overwrite to replace it.")
    work = out.parent / f".{out.name}.building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        manifest = _build(corpus, work, options, progress)
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        work.rename(out)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _build(corpus: Path, work: Path, options: BuildOptions, progress: bool) -> Manifest:
    timings: dict[str, float] = {}
    encoder: Encoder | None = None
    faiss_index: Any = None
    if options.dense_model is not None:
        from .dense import Encoder, new_faiss_index

        started = time.perf_counter()
        encoder = Encoder(
            options.dense_model, query_prefix=options.query_prefix, passage_prefix=options.passage_prefix,
            device=options.device, batch_size=options.batch_size,
        )
        faiss_index = new_faiss_index(encoder.dim, options.factory)
        timings["load_model_s"] = time.perf_counter() - started

    started = time.perf_counter()
    reader = CorpusReader(corpus)
    with DocStoreWriter(work) as writer, _bar(reader.size(), "read corpus", "B", progress) as bar:
        for passage in reader:
            writer.add(passage)
            bar.update(reader.bytes_read - bar.n)
    timings["read_corpus_s"] = time.perf_counter() - started
    store = DocStore(work, expected_count=reader.count)
    try:
        kinds: list[IndexKind] = []
        bm25_info = dense_info = None
        if options.bm25:
            started = time.perf_counter()
            bm25_info = build_bm25(_contents(store), work / "bm25", k1=options.k1, b=options.b, progress=progress)
            timings["bm25_s"] = time.perf_counter() - started
            kinds.append("bm25")
        if encoder is not None:
            started = time.perf_counter()
            dense_info = _build_dense(store, work, encoder, faiss_index, options, progress)
            timings["dense_s"] = time.perf_counter() - started
            kinds.append("dense")
    finally:
        store.close()
    manifest = Manifest(
        created_at=now(),
        corpus=CorpusInfo(path=str(corpus.resolve()), sha256=reader.sha256, bytes=reader.bytes_read, documents=reader.count),
        kinds=kinds,
        bm25=bm25_info,
        dense=dense_info,
        files=file_sizes(work),
        build_timings={k: round(v, 3) for k, v in timings.items()},
    )
    write_manifest(work, manifest)
    return manifest


def _build_dense(
    store: DocStore, work: Path, encoder: Encoder, faiss_index: Any, options: BuildOptions, progress: bool
) -> DenseInfo:
    import faiss

    from .dense import fill_faiss_index

    n = len(store)
    # Embeddings go to a temporary file, not RAM: 1M passages at dim 768 are 3 GB.
    scratch = work / "embeddings.tmp.npy"
    vectors = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=(n, encoder.dim))
    with _bar(n, "encode passages", "passage", progress) as bar:
        for start in range(0, n, ENCODE_CHUNK):
            stop = min(n, start + ENCODE_CHUNK)
            vectors[start:stop] = encoder.encode_passages(store.texts(start, stop))
            bar.update(stop - start)
    vectors.flush()
    fill_faiss_index(faiss_index, vectors, options.factory, seed=options.seed)
    del vectors
    scratch.unlink()
    faiss.write_index(faiss_index, str(work / "dense.faiss"))
    return DenseInfo(
        model=str(encoder.model_dir.resolve()),
        model_fingerprint=encoder.fingerprint,
        dim=encoder.dim,
        query_prefix=options.query_prefix,
        passage_prefix=options.passage_prefix,
        factory=options.factory,
        faiss_version=faiss.__version__,
    )
