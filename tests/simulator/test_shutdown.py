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
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
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
