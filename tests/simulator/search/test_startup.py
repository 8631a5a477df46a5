"""Bad configuration and bad input stop the start-up with a clear reason, never a crash later or
a silent empty result; a server of real search alone needs no model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app
from serpsim_simulator.backends.errors import BackendConfigError, IndexLoadError
from serpsim_simulator.cli import main

from ..conftest import _wait_ready, make_settings
from ..fakes import FakeEngine
from ..live import free_port

ROOT = Path(__file__).resolve().parents[3]


def _corpus_settings(index: Path, **extra: object) -> object:
    return make_settings(backends=[{"kind": "simulated"}, {"kind": "corpus", "name": "wiki", "index": str(index), **extra}])


def _start(settings: object) -> None:
    engine = FakeEngine()
    with TestClient(create_app(settings, engine=engine)):  # type: ignore[arg-type]
        raise AssertionError("the app started")
    assert not engine.calls


def test_missing_index_stops_the_start_up(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match=f"{tmp_path / 'nowhere'}: no such index directory"):
        _start(_corpus_settings(tmp_path / "nowhere"))


def test_corrupt_index_file_stops_the_start_up(index_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "idx"
    shutil.copytree(index_dir, copy)
    docs = copy / "docs.jsonl"
    docs.write_bytes(docs.read_bytes()[:-100])  # truncated
    with pytest.raises(IndexLoadError, match=r"\(truncated or replaced\); rebuild the index"):
        _start(_corpus_settings(copy))
    shutil.copytree(index_dir, copy, dirs_exist_ok=True)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="corrupt manifest"):
        _start(_corpus_settings(copy))


def test_a_mode_the_index_lacks_and_a_missing_key_stop_the_start_up(index_dir: Path, tmp_path: Path) -> None:
    bm25_only = tmp_path / "bm25"
    shutil.copytree(index_dir, bm25_only)
    manifest = json.loads((bm25_only / "manifest.json").read_text())
    manifest.update(kinds=["bm25"], dense=None)
    del manifest["files"]["dense.faiss"]
    (bm25_only / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackendConfigError, match="mode 'hybrid' needs an index this directory lacks"):
        _start(_corpus_settings(bm25_only, mode="hybrid"))
    settings = make_settings(backends=[{"kind": "serpapi", "api_key_env": "SERPSIM_TEST_UNSET_KEY", "spend_file": ":memory:"}])
    with pytest.raises(BackendConfigError, match="set the environment variable SERPSIM_TEST_UNSET_KEY"):
        _start(settings)


def test_serve_exits_with_the_reason(tmp_path: Path) -> None:
    """`serpsim-simulator serve` itself: one line naming the backend and the reason, a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERPSIM_")}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    env["SERPSIM_BACKENDS"] = json.dumps([{"kind": "corpus", "name": "wiki", "index": str(tmp_path / "missing")}])
    env.update(SERPSIM_LOG_FORMAT="text", SERPSIM_CACHE__PATH=":memory:")
    proc = subprocess.run(
        [sys.executable, "-m", "serpsim_simulator.cli", "serve", "--port", str(free_port())],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )
    assert proc.returncode != 0
    assert f"backend `wiki` cannot start: {tmp_path / 'missing'}: no such index directory" in proc.stderr
    assert "tiny demo model" not in proc.stderr.lower()  # no simulated backend: no model is built


def test_index_refuses_an_empty_corpus_and_a_line_without_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert main(["index", str(empty), str(tmp_path / "a"), "--quiet"]) == 2
    assert "empty corpus" in capsys.readouterr().err
    textless = tmp_path / "textless.jsonl"
    textless.write_text('{"id": "a", "text": "Alpha."}\n{"id": "b", "title": "Beta"}\n')
    assert main(["index", str(textless), str(tmp_path / "b"), "--quiet"]) == 2
    assert f"{textless}:2: no text" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b" / "manifest.json").exists()


def test_real_search_alone_needs_no_model(index_dir: Path) -> None:
    settings = make_settings(backends=[{"kind": "corpus", "name": "wiki", "index": str(index_dir)}],
                             engine={"kind": "transformers", "model": "/nonexistent/model"})
    with TestClient(create_app(settings)) as c:
        _wait_ready(c)
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready" and "engine" not in ready
        body = c.get("/search.json", params={"q": "What is the capital?", "num": 3}).json()
        assert len(body["organic_results"]) == 3 and body["backend"]["name"] == "wiki"
        r = c.get("/search.json", params={"q": "What is the capital?", "quality": "noisy"})
        assert r.status_code == 400 and "real search" in r.json()["error"]
