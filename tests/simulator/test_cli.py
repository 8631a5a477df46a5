"""The `serpsim-simulator` console script, through its public surface."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serpsim_simulator.cli import build_parser, settings_from_args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPSIM_PORT", "9001")
    monkeypatch.setenv("SERPSIM_ENGINE__KIND", "vllm")
    monkeypatch.setenv("SERPSIM_ENGINE__MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("SERPSIM_MODEL", "/env/model")
    args = build_parser().parse_args(["serve", "--engine", "transformers", "--prompt-mode", "prompt"])
    settings = settings_from_args(args)
    assert settings.port == 9001  # from the environment
    assert settings.engine.kind == "transformers"  # the flag wins
    assert settings.engine.max_batch_size == 7  # nested env kept beside a nested flag
    assert settings.engine.model == "/env/model"
    assert settings.simulation.prompt_mode == "prompt"


def test_openai_engine_needs_a_url() -> None:
    args = build_parser().parse_args(["serve", "--engine", "openai"])
    with pytest.raises(ValueError, match="openai_urls"):
        settings_from_args(args)


@pytest.mark.heavy
def test_serve_without_a_model_uses_the_demo_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`make serve` on a fresh machine: no SERPSIM_MODEL, the cached demo model, a loud banner."""
    (tmp_path / "tiny-model").symlink_to(tiny_model_dir)  # the "already built once" cache
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERPSIM_")}
    env["SERPSIM_CACHE_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "serpsim_simulator.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.5)
        r = httpx.get(f"http://127.0.0.1:{port}/search.json", params={"q": "demo", "num": 2, "seed": 1}, timeout=120)
        assert r.status_code == 200 and r.json()["organic_results"]
        assert r.json()["simulation"]["model"] == str(tmp_path / "tiny-model")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "TINY DEMO MODEL" in out and "SERPSIM_MODEL" in out
