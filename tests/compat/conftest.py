"""Fixtures for the SerpApi client compatibility suites.

These suites run in the client environments (`.venv/client-serpapi`, `.venv/client-legacy`,
built by `scripts/install_clients.sh`), which hold a SerpApi client and pytest but neither torch
nor the simulator. So the simulator runs as a real subprocess from the simulator environment
(`$SERPSIM_SIM_PYTHON`, default `.venv/sim/bin/python`), serving the shared tiny model on a free
loopback port, and the clients are pointed at it only through their documented class attributes.
The open simulator also hosts a small corpus (`CORPUS`, BM25, built by `serpsim-simulator
index`) as the backend `facts`, so the clients read real search results through it too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SERPSIM_TEST_CACHE", REPO / ".cache" / "test-models"))
SIM_PYTHON = Path(os.environ.get("SERPSIM_SIM_PYTHON", REPO / ".venv" / "sim" / "bin" / "python"))

TINY_MODEL_BUILD_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


def _sim_python() -> Path:
    if not SIM_PYTHON.exists():
        pytest.fail(f"simulator interpreter {SIM_PYTHON} not found: run `make install` or set SERPSIM_SIM_PYTHON")
    return SIM_PYTHON


def _child_env() -> dict[str, str]:
    """The environment for simulator subprocesses: no inherited SERPSIM_* settings (a stray
    SERPSIM_PUBLIC_BASE_URL would send pagination elsewhere), and never the network hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERPSIM_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Overrides the root fixture: same cache path and lock, but built by the simulator's CLI in a
    subprocess, since this environment cannot import the simulator."""
    out = Path(os.environ.get("SERPSIM_TINY_MODEL", CACHE / "tiny-sim"))
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "tiny-sim.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "config.json").exists():
            cmd = [str(_sim_python()), "-m", "serpsim_simulator.cli", "tiny-model", str(out)]
            try:
                done = subprocess.run(
                    cmd, env=_child_env(), capture_output=True, text=True, timeout=TINY_MODEL_BUILD_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"`{' '.join(cmd)}` took more than {TINY_MODEL_BUILD_TIMEOUT_S:.0f} s")
            if done.returncode != 0 or not (out / "config.json").exists():
                pytest.fail(f"`{' '.join(cmd)}` failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CORPUS_BACKEND = "facts"
CORPUS = [
    {"id": "eiffel-1889", "title": "Eiffel Tower",
     "text": "The Eiffel Tower in Paris was built from 1887 to 1889 as the entrance arch to the World's Fair."},
    {"id": "austen-1813", "title": "Pride and Prejudice",
     "text": "Pride and Prejudice is a novel by Jane Austen, first published in 1813 by Thomas Egerton."},
    {"id": "everest", "title": "Mount Everest",
     "text": "Mount Everest, at 8,849 metres, is the highest mountain above sea level, on the Nepal–China border."},
    {"id": "nile", "title": "Nile",
     "text": "The Nile flows north through eleven countries into the Mediterranean Sea; it is about 6,650 km long."},
    {"id": "gutenberg", "title": "Printing press",
     "text": "Johannes Gutenberg introduced movable-type printing to Europe in Mainz around 1440."},
    {"id": "coffee", "title": "Coffee",
     "text": "Coffee is brewed from roasted seeds of Coffea plants, first cultivated in Yemen in the 15th century."},
]
"""The rows of the `facts` corpus, `{id, title, text}`: what a client must read back unmodified."""


@dataclass(frozen=True)
class Simulator:
    base_url: str
    """`http://127.0.0.1:PORT`, exactly what the clients' base-URL attributes are set to."""
    port: int
    log: Path
    api_key: str | None = None
    """The one key this simulator accepts; None: no keys configured, every request passes."""

    def get(self, path: str, timeout: float = 120.0) -> tuple[int, str, bytes]:
        """A plain stdlib GET (status, content type, body), for probing beside the clients."""
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def get_json(self, path: str) -> tuple[int, dict]:
        status, _, body = self.get(path)
        return status, json.loads(body)


def _log_tail(log: Path, n: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def _wait_ready(proc: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode} before ready:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(base_url + "/readyz", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"simulator not ready after {READY_TIMEOUT_S:.0f} s:\n{_log_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def _build_corpus_index(workdir: Path) -> Path:
    """`CORPUS` as JSONL, indexed (BM25) by the simulator's own `index` command."""
    corpus = workdir / "facts.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in CORPUS))
    out = workdir / "facts-index"
    cmd = [str(_sim_python()), "-m", "serpsim_simulator.cli", "index", str(corpus), str(out), "--quiet"]
    done = subprocess.run(cmd, env=_child_env(), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return out


@contextmanager
def _run_simulator(
    model_dir: Path, workdir: Path, api_key: str | None = None, corpus_index: Path | None = None
) -> Iterator[Simulator]:
    """Start `serpsim_simulator.cli serve` (transformers engine; with `corpus_index`, the corpus
    beside it as the backend `facts`) on a free loopback port, wait for /readyz, and stop it
    (SIGTERM, then SIGKILL) however the block ends."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = workdir / "serve.log"
    cmd = [
        str(_sim_python()), "-m", "serpsim_simulator.cli", "serve",
        "--model", str(model_dir), "--port", str(port), "--host", "127.0.0.1",
        "--engine", "transformers",
    ]  # fmt: skip
    child_env = _child_env()
    # A result cache of its own: the default (~/.cache/serpsim) outlives the run and is shared.
    child_env.update(SERPSIM_CACHE__PATH=str(workdir / "results.sqlite"), SERPSIM_LOG_FORMAT="text")
    if api_key is not None:
        child_env["SERPSIM_AUTH__API_KEYS"] = json.dumps([api_key])
    if corpus_index is not None:
        child_env["SERPSIM_BACKENDS"] = json.dumps(
            [{"kind": "simulated"}, {"kind": "corpus", "name": CORPUS_BACKEND, "index": str(corpus_index)}]
        )
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        try:
            _wait_ready(proc, base_url, log)
        except RuntimeError as e:
            pytest.fail(str(e))
        yield Simulator(base_url=base_url, port=port, log=log, api_key=api_key)
    finally:
        _stop(proc)
        if proc.returncode not in (0, -15):
            sys.stderr.write(f"simulator exited with {proc.returncode}; log tail:\n{_log_tail(log)}\n")


@pytest.fixture(scope="session")
def simulator(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The real simulator on the tiny model, open (no API keys configured), with the `facts` corpus."""
    workdir = tmp_path_factory.mktemp("simulator")
    with _run_simulator(tiny_model_dir, workdir, corpus_index=_build_corpus_index(workdir)) as sim:
        yield sim


@pytest.fixture(scope="session")
def keyed_simulator(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """A second simulator with one API key configured (`keyed_simulator.api_key`)."""
    with _run_simulator(tiny_model_dir, tmp_path_factory.mktemp("keyed-simulator"), "compat-valid-key") as sim:
        yield sim


@pytest.fixture(scope="session")
def corpus() -> tuple[str, list[dict[str, str]]]:
    """(backend name, rows) of the corpus the open `simulator` hosts beside the simulation."""
    return CORPUS_BACKEND, CORPUS
