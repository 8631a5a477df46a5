"""The index directory: what the manifest records, memory-mapped loading, dense options, and
clear start-up errors for a missing, corrupt or mismatched index."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from serpsim_simulator.backends.corpus.build import BuildOptions, build_index
from serpsim_simulator.backends.corpus.index import CorpusIndex
from serpsim_simulator.backends.errors import BackendConfigError, IndexBuildError, IndexLoadError

from ..facts import Fact, write_jsonl


def test_manifest_records_what_was_built(index_dir: Path, corpus_file: Path, minilm_dir: Path) -> None:
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["format"] == "serpsim-corpus-index" and manifest["format_version"] == 1
    assert manifest["kinds"] == ["bm25", "dense"]
    assert manifest["corpus"]["sha256"] == hashlib.sha256(corpus_file.read_bytes()).hexdigest()
    assert manifest["corpus"]["documents"] == len(corpus_file.read_text().splitlines())
    assert manifest["bm25"]["stemmer"] == "english" and manifest["bm25"]["stopwords"] == "en"
    dense = manifest["dense"]
    assert (dense["dim"], dense["factory"], dense["metric"]) == (384, "Flat", "inner_product")
    assert dense["model"] == str(minilm_dir.resolve())
    assert (dense["query_prefix"], dense["passage_prefix"]) == ("", "")
    on_disk = {str(p.relative_to(index_dir)): p.stat().st_size for p in index_dir.rglob("*") if p.is_file()}
    assert manifest["files"] == {k: v for k, v in on_disk.items() if k != "manifest.json"}
    assert {"docs.jsonl", "docs.offsets.npy", "dense.faiss", "bm25/params.index.json"} <= set(on_disk)
    assert not [name for name in on_disk if "tmp" in name]  # the scratch embeddings are gone


def test_load_memory_maps_the_large_arrays(corpus_index: CorpusIndex) -> None:
    assert isinstance(corpus_index.store._offsets, np.memmap)
    assert isinstance(corpus_index.bm25.model.scores["data"], np.memmap)  # type: ignore[union-attr]
    assert corpus_index.bm25.backend == "numba"  # type: ignore[union-attr]
    assert corpus_index.modes == ("bm25", "dense", "hybrid")


def test_reloading_answers_identically(index_dir: Path, corpus_index: CorpusIndex, questions: list[Fact]) -> None:
    again = CorpusIndex.load(index_dir, mmap=False)
    try:
        asked = [q.question for q in questions[:10]]
        for mode in ("bm25", "dense", "hybrid"):
            a = again.search(asked, num=5, mode=mode)  # type: ignore[arg-type]
            b = corpus_index.search(asked, num=5, mode=mode)  # type: ignore[arg-type]
            assert [[h.id for h in r.hits] for r in a] == [[h.id for h in r.hits] for r in b]
    finally:
        again.close()


def test_prefixes_are_applied_to_queries_and_passages(tmp_path: Path, minilm_dir: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "title": "T", "text": "The capital of Velmora is Tarsk."}])
    options = BuildOptions(bm25=False, dense_model=minilm_dir, query_prefix="query: ", passage_prefix="passage: ")
    manifest = build_index(source, tmp_path / "idx", options, progress=False)
    assert manifest.kinds == ["dense"]
    assert (manifest.dense.query_prefix, manifest.dense.passage_prefix) == ("query: ", "passage: ")  # type: ignore[union-attr]
    index = CorpusIndex.load(tmp_path / "idx")
    try:
        model = index.dense.encoder.model  # type: ignore[union-attr]
        (hits,) = index.dense.search(["capital of Velmora"], 1)  # type: ignore[union-attr]
        q = model.encode(["query: capital of Velmora"], normalize_embeddings=True)[0]
        p = model.encode(['passage: "T"\nThe capital of Velmora is Tarsk.'], normalize_embeddings=True)[0]
        bare = model.encode(["capital of Velmora"], normalize_embeddings=True)[0]
        assert hits[0][1] == pytest.approx(float(q @ p), abs=1e-4)
        assert abs(float(bare @ p) - float(q @ p)) > 1e-3  # the prefix made a difference
    finally:
        index.close()


@pytest.mark.parametrize(("factory", "params"), [("HNSW32", {"efSearch": 64}), ("IVF8,PQ16x4", {"nprobe": 8})])
def test_other_faiss_factories_round_trip(
    tmp_path: Path, corpus_file: Path, minilm_dir: Path, questions: list[Fact], factory: str, params: dict[str, float]
) -> None:
    build_index(corpus_file, tmp_path / "idx", BuildOptions(bm25=False, dense_model=minilm_dir, factory=factory), progress=False)
    index = CorpusIndex.load(tmp_path / "idx", faiss_params=params)
    try:
        assert index.manifest.dense.factory == factory  # type: ignore[union-attr]
        results = index.search([q.question for q in questions], num=3, mode="dense")
        found = sum(q.doc_id in [h.id for h in r.hits] for q, r in zip(questions, results))
        assert found >= 80, f"{factory}: {found}/100"
    finally:
        index.close()
    with pytest.raises(BackendConfigError, match="no search parameter 'bogus'"):
        CorpusIndex.load(tmp_path / "idx", faiss_params={"bogus": 1})


def test_bad_factory_fails_before_reading_the_corpus(tmp_path: Path, minilm_dir: Path) -> None:
    missing = tmp_path / "no-such-corpus.jsonl"  # never opened: the factory is checked first
    with pytest.raises(IndexBuildError, match="'Flat,Bogus'"):
        build_index(missing, tmp_path / "idx", BuildOptions(bm25=False, dense_model=minilm_dir, factory="Flat,Bogus"), progress=False)
    assert not (tmp_path / "idx").exists()


def test_too_many_centroids_for_the_corpus_is_a_clear_error(tmp_path: Path, minilm_dir: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"id": str(i), "title": "", "text": f"passage {i}"} for i in range(20)])
    with pytest.raises(IndexBuildError, match="fewer centroids"):
        build_index(source, tmp_path / "idx", BuildOptions(bm25=False, dense_model=minilm_dir, factory="IVF64,Flat"), progress=False)
    assert not (tmp_path / "idx").exists()
    assert not list(tmp_path.glob(".idx.building-*"))


# --- start-up errors ---------------------------------------------------------------------


@pytest.fixture
def index_copy(index_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(index_dir, tmp_path / "copy"))


def test_missing_index_directory(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="no such index directory"):
        CorpusIndex.load(tmp_path / "nowhere")


def test_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="not an index directory"):
        CorpusIndex.load(tmp_path)


def test_manifest_from_another_format_version(index_copy: Path) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="format version 99, this serpsim reads version 1"):
        CorpusIndex.load(index_copy)


def test_corrupt_manifest(index_copy: Path) -> None:
    (index_copy / "manifest.json").write_text('{"format": "serpsim-corpus-index", "format_ver')
    with pytest.raises(IndexLoadError, match="corrupt manifest"):
        CorpusIndex.load(index_copy)


def test_truncated_document_store(index_copy: Path) -> None:
    docs = index_copy / "docs.jsonl"
    docs.write_bytes(docs.read_bytes()[:-100])
    with pytest.raises(IndexLoadError, match=r"docs\.jsonl: \d+ bytes, the manifest says \d+"):
        CorpusIndex.load(index_copy)


def test_missing_bm25_file(index_copy: Path) -> None:
    (index_copy / "bm25" / "vocab.index.json").unlink()
    with pytest.raises(IndexLoadError, match=r"vocab\.index\.json: missing index file"):
        CorpusIndex.load(index_copy)


@pytest.mark.parametrize("name", ["dense.faiss", "bm25/data.csc.index.npy", "docs.offsets.npy"])
def test_corrupt_file_of_the_same_size(index_copy: Path, name: str) -> None:
    path = index_copy / name
    path.write_bytes(b"\x07" * path.stat().st_size)  # sizes match the manifest; contents do not
    with pytest.raises(IndexLoadError, match=f"{name.split('/')[0]}: corrupt"):
        CorpusIndex.load(index_copy)


def test_dense_index_with_a_different_model(index_copy: Path, minilm_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-model"
    shutil.copytree(minilm_dir, other, copy_function=lambda src, dst: Path(dst).symlink_to(src))
    config = other / "config.json"
    data = json.loads(config.read_text())
    config.unlink()
    config.write_text(json.dumps({**data, "note": "another checkpoint"}))
    with pytest.raises(IndexLoadError, match="different model"):
        CorpusIndex.load(index_copy, model=other)


def test_dense_index_whose_model_moved(index_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendConfigError, match="set the backend's `model`"):
        CorpusIndex.load(index_copy, model=tmp_path / "gone")


def test_mode_the_index_cannot_serve(tmp_path: Path, corpus_file: Path) -> None:
    build_index(corpus_file, tmp_path / "idx", BuildOptions(bm25=True), progress=False)
    index = CorpusIndex.load(tmp_path / "idx")
    try:
        with pytest.raises(BackendConfigError, match="mode 'hybrid' needs an index this directory lacks; it serves bm25"):
            index.check_mode("hybrid")
    finally:
        index.close()
