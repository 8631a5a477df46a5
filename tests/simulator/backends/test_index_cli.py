"""`serpsim-simulator index`, through the console entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from serpsim_simulator.cli import main


def test_index_command_builds_with_a_progress_bar(tmp_path: Path, corpus_file: Path) -> None:
    out = tmp_path / "idx"
    proc = subprocess.run(
        [sys.executable, "-m", "serpsim_simulator.cli", "index", str(corpus_file), str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "read corpus" in proc.stderr and "100%" in proc.stderr  # tqdm's bar
    assert "index of 340 documents (bm25) written to" in proc.stderr
    assert json.loads((out / "manifest.json").read_text())["kinds"] == ["bm25"]


def test_bad_corpus_is_one_clear_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\n')
    assert main(["index", str(corpus), str(tmp_path / "idx"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{corpus}:2: no text" in err
    assert "Traceback" not in err


def test_nothing_to_build(tmp_path: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(corpus_file), str(tmp_path / "idx"), "--no-bm25", "--quiet"]) == 2
    assert "Nothing to build" in capsys.readouterr().err


def test_dense_options_reach_the_manifest(tmp_path: Path, minilm_dir: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "Alpha."}\n{"id": "b", "text": "Beta."}\n')
    args = ["index", str(corpus), str(tmp_path / "idx"), "--no-bm25", "--dense", str(minilm_dir), "--factory", "HNSW16",
            "--query-prefix", "query: ", "--passage-prefix", "passage: ", "--quiet"]
    assert main(args) == 0
    dense = json.loads((tmp_path / "idx" / "manifest.json").read_text())["dense"]
    assert (dense["factory"], dense["query_prefix"], dense["passage_prefix"]) == ("HNSW16", "query: ", "passage: ")
