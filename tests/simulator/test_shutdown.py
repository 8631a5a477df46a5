"""SIGTERM: stop accepting, let the in-flight request finish, exit 0 (a real server process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .live import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.heavy
def test_sigterm_finishes_in_flight_requests_and_exits_0() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.simulator.serve_fake", str(port), "1.5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    try:
        wait_ready(url)
        result: dict[str, httpx.Response] = {}
        slow = threading.Thread(
            target=lambda: result.setdefault("r", httpx.get(f"{url}/search.json", params={"q": "slow", "num": 5}, timeout=20))
        )
        slow.start()
        time.sleep(0.4)  # the request is in the engine now
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.get(f"{url}/healthz", timeout=2)
        slow.join(timeout=20)
        assert proc.wait(timeout=20) == 0
        assert result["r"].status_code == 200 and len(result["r"].json()["organic_results"]) == 5
        lines = [json.loads(line) for line in proc.stdout.read().decode().splitlines() if line.startswith("{")]  # type: ignore[union-attr]
        access = [entry for entry in lines if entry.get("logger") == "serpsim_simulator.access"]
        assert any(entry["path"] == "/search.json" and entry["status"] == 200 and entry["request_id"] for entry in access)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _close_stdout() -> None:
    os.close(1)


@pytest.mark.heavy
def test_sigterm_exits_0_when_started_with_stdout_closed(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`serve >&-` (or a supervisor that closed its end): the listening socket took descriptor 1,
    uvloop's libuv asserts when closing a descriptor <= 2, and the process aborted at shutdown
    (SIGABRT and a core dump, which took over 25 s to write where dumps are on)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {**os.environ, "SERPSIM_CACHE__PATH": ":memory:", "SERPSIM_LOG_FORMAT": "text"}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "serpsim_simulator.cli", "serve", "--engine", "transformers", "--device", "cpu",
             "--model", str(tiny_model_dir), "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stderr=err, env=env, preexec_fn=_close_stdout,
        )
    try:
        wait_ready(url, timeout_s=120)
        assert httpx.get(f"{url}/search.json", params={"q": "x", "num": 2, "seed": 1}, timeout=60).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-2000:]
        assert "Finished server process" in log.read_text()  # the log still reached stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
