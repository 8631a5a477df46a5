"""`serpsim-simulator serve --workers 2` for real: two worker processes on one loopback port, the
`openai` engine on a scripted OpenAI server, one real redis-server. Limits hold exactly across
the workers under concurrent load, a search made on one worker is fetched by id from the other,
/account.json agrees from both, and SIGTERM drains every worker and exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serpsim_simulator.cli import main as cli_main

from ..live import free_port
from ..redis_server import RedisServer
from .conftest import state_settings

pytestmark = pytest.mark.heavy  # three server processes and a redis-server

ROOT = Path(__file__).resolve().parents[3]
FAKE_OPENAI = ROOT / "tests" / "simulator" / "engines" / "fake_openai.py"
ENGINE_DELAY_S = 0.3


def _wait(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(FAKE_OPENAI), "--port", str(port), "--delay", str(ENGINE_DELAY_S)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/v1/models")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait()


def pinned(url: str, not_pid: int | None = None, tries: int = 200) -> tuple[httpx.Client, int]:
    """A client holding one keep-alive connection, so one worker, and that worker's pid (another
    than `not_pid`: fresh connections until the kernel hands one to the other worker)."""
    for _ in range(tries):
        client = httpx.Client(base_url=url, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                              timeout=30)
        pid = client.get("/healthz").json()["pid"]
        if pid != not_pid:
            return client, pid
        client.close()
    raise AssertionError(f"no second worker answered in {tries} connections")


async def load(url: str, key: str, duration_s: float) -> list[tuple[float, float, int]]:
    """Waves of concurrent searches, each on a fresh connection (spread over the workers)."""
    outcomes: list[tuple[float, float, int]] = []
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_keepalive_connections=0), timeout=30) as c:
        async def one(n: int) -> None:
            sent = time.monotonic()
            r = await c.get("/search.json", params={"q": f"load {n}", "num": 5, "api_key": key})
            outcomes.append((sent, time.monotonic(), r.status_code))

        tasks, n, end = [], 0, time.monotonic() + duration_s
        while time.monotonic() < end:
            tasks += [asyncio.create_task(one(n + i)) for i in range(6)]
            n += 6
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
    return outcomes


def test_two_workers_share_limits_archive_and_usage_and_drain_on_sigterm(
    redis_server: RedisServer, fake_openai: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = state_settings(redis_server.url)
    env = {
        **os.environ,
        "SERPSIM_SHARED_STATE__REDIS_URL": redis_server.url, "SERPSIM_SHARED_STATE__KEY_PREFIX": state.key_prefix,
        "SERPSIM_LIMITS__RATE_PER_SECOND": "20", "SERPSIM_LIMITS__RATE_BURST": "20",
        "SERPSIM_LIMITS__RATE_PER_HOUR": "100", "SERPSIM_AUTH__API_KEYS": '["load", "other"]',
        "SERPSIM_LOG_FORMAT": "json", "SERPSIM_LIMITS__GRACEFUL_SHUTDOWN_S": "10",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "serpsim_simulator.cli", "serve", "--workers", "2", "--engine", "openai",
             "--openai-url", fake_openai, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    clients: list[httpx.Client] = []
    try:
        _wait(f"{url}/readyz")
        a, pid_a = pinned(url)
        b, pid_b = pinned(url, not_pid=pid_a)
        clients += [a, b]
        assert a.get("/readyz").status_code == b.get("/readyz").status_code == 200  # every worker is ready

        # 20/s, burst 20, 100/hour on one key, both workers: exactly 100 searches admitted, and the
        # 100th no sooner than 4 s after the first (20 at once, then 20 a second).
        outcomes = asyncio.run(load(url, "load", 6.5))
        statuses = Counter(status for _, _, status in outcomes)
        print(f"\ntwo workers, one key, 20/s + 100/hour: {dict(statuses)} of {len(outcomes)} searches")
        assert statuses[200] == 100 and statuses[429] == len(outcomes) - 100, statuses
        first = min(sent for sent, _, _ in outcomes)
        last_admitted = max(done for _, done, status in outcomes if status == 200)
        assert last_admitted - first >= 4.0 - ENGINE_DELAY_S

        # /account.json from each worker: the same shared count.
        accounts = [c.get("/account.json", params={"api_key": "load"}).json() for c in (a, b)]
        assert accounts[0] == accounts[1]
        assert accounts[0]["total_searches"] == accounts[0]["last_hour_searches"] == 100
        assert accounts[0]["plan_searches_left"] == 0

        # A search made on one worker is fetched by id from the other.
        made = a.get("/search.json", params={"q": "archived once", "api_key": "other"})
        assert made.status_code == 200
        search_id = made.json()["search_metadata"]["id"]
        fetched = b.get(f"/searches/{search_id}.json", params={"api_key": "other"})
        assert fetched.status_code == 200 and fetched.json()["organic_results"] == made.json()["organic_results"]

        # SIGTERM to the parent mid-search: the in-flight search completes, every worker exits, status 0.
        result: dict[str, httpx.Response] = {}
        slow = threading.Thread(target=lambda: result.setdefault(
            "r", a.get("/search.json", params={"q": "in flight", "api_key": "other", "no_cache": "true"})))
        slow.start()
        time.sleep(ENGINE_DELAY_S / 3)
        proc.send_signal(signal.SIGTERM)
        slow.join(timeout=30)
        assert proc.wait(timeout=30) == 0
        assert result["r"].status_code == 200 and result["r"].json()["organic_results"]
        for pid in (pid_a, pid_b):
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert sum("Application startup complete" in entry.get("message", "") for entry in lines) == 2  # each worker's
    assert not [entry for entry in lines if "per process" in entry.get("message", "")]  # shared state configured


def test_in_process_engines_refuse_several_workers(capfd: pytest.CaptureFixture[str]) -> None:
    """Before binding or loading anything: exit 2 and what to do instead."""
    for engine in ("transformers", "vllm"):
        assert cli_main(["serve", "--workers", "2", "--engine", engine, "--port", "1"]) == 2
        err = capfd.readouterr().err
        assert f"engine `{engine}` loads the model in the server process" in err and "--engine openai" in err
