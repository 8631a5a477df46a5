"""Servers in subprocesses and `wrk` runs, for the benchmarks."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def uvicorn_server(
    factory: str, env: dict[str, str] | None = None, ready_path: str = "/search.json?q=warm", start_timeout_s: float = 15.0
) -> Iterator[str]:
    """`uvicorn --factory <factory>` on a free port, until `ready_path` answers 200 (or `start_timeout_s`)."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port), "--log-level", "warning",
           "--no-access-log"]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(url + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{factory} did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


UNIQUE_QUERIES = Path(__file__).with_name("unique_queries.lua")
"""wrk script: every request's `q` gets a number of its own, so no search is a cache hit."""


def wrk(url: str, connections: int, seconds: float, unique: str | None = None) -> dict[str, float]:
    """Requests/s and median latency (ms) from `wrk --latency`.

    `unique`: append ` <unique>-<n>` to `q`, n counting requests, so each is a new search.
    """
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if unique is not None:
        cmd += ["-s", str(UNIQUE_QUERIES), url, "--", unique]
    else:
        cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(*p50.groups()) if p50 else float("nan"),
        "p99_ms": _ms(*p99.groups()) if p99 else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


class KeepAliveClient:
    """`n` keep-alive HTTP/1.1 connections and bare requests: a load generator that costs next to
    nothing, since on two cores httpx's own CPU time per request showed up as service time.

    The server closes a connection that sat idle past its keep-alive (uvicorn: 5 s), which on a
    slow machine happens between two repetitions. A request that finds its connection closed
    before any byte of the answer arrived is sent again once, on a new connection, as HTTP
    clients do for idempotent requests; `reconnects` counts them.
    """

    def __init__(self, url: str, n: int) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.n = parts.hostname or "127.0.0.1", parts.port or 80, n
        self.conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.reconnects = 0

    async def __aenter__(self) -> KeepAliveClient:
        self.conns = [await asyncio.open_connection(self.host, self.port) for _ in range(self.n)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for _, writer in self.conns:
            writer.close()

    async def request(self, index: int, method: str, target: str, body: bytes = b"") -> bytes:
        """The body of a 200 answer to `method target` on connection `index`; anything else raises."""
        try:
            return await self._exchange(self.conns[index], method, target, body)
        except _Stale:
            self.reconnects += 1
            self.conns[index][1].close()
            self.conns[index] = await asyncio.open_connection(self.host, self.port)
            return await self._exchange(self.conns[index], method, target, body)

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], method: str, target: str, body: bytes
    ) -> bytes:
        reader, writer = conn
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
            answer = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            raise _Stale from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise _Stale from exc
        status = answer.split(b" ", 2)[1]
        length = next(int(line.split(b":", 1)[1]) for line in answer.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        content = await reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"{method} {target}: {status.decode()} {content[:200]!r}")
        return content


class _Stale(Exception):
    """The server had closed the connection before this request: send it again on a new one."""
