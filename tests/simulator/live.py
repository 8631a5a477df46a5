"""Real HTTP servers on loopback for reliability tests: uvicorn in a thread, or in a subprocess."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """`with LiveServer(app) as url:` serves `app` with uvicorn on a free loopback port."""

    def __init__(self, app: FastAPI, graceful_s: float = 2.0, keep_alive_s: int = 5) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=free_port(), log_level="warning", timeout_graceful_shutdown=graceful_s,
            timeout_keep_alive=keep_alive_s,
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{config.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        wait_ready(self.url)
        return self.url

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def wait_ready(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} never became ready")
