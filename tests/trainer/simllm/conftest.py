"""Fixtures of the simulation-LLM pipeline tests: a scripted OpenAI-compatible server over real
HTTP, the console commands, and the synthetic knowledge base's records."""

from __future__ import annotations

import inspect
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # module level: FastAPI resolves the string annotations here
from fastapi.responses import JSONResponse
from serpsim_trainer.cli import main as cli_main

from . import kb

Handler = Callable[[str, dict[str, Any]], Any]
"""(path, request body) -> a response body, or (status, body), or an awaitable of either."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scripted_openai(handler: Handler) -> Iterator[str]:
    """A scripted OpenAI-compatible server (uvicorn in a thread): `/v1/completions` and
    `/v1/chat/completions` answer whatever `handler` returns."""
    import uvicorn

    app = FastAPI()

    async def answer(path: str, request: Request) -> Any:
        result = handler(path, await request.json())
        if inspect.isawaitable(result):  # a slow reply sleeps without blocking the other requests
            result = await result
        if isinstance(result, tuple):
            return JSONResponse(result[1], status_code=result[0])
        return result

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await answer("completions", request)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        return await answer("chat", request)

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def chat_reply(text: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def cli(*argv: str) -> int:
    """`serpsim-train ARGV` in this process, quiet logs."""
    return cli_main(["--log-level", "WARNING", *argv])


def write_records(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def kb_records(n_landmarks: int, seed: int = 0) -> list[dict[str, Any]]:
    return kb.records(kb.facts(seed, n_landmarks))
