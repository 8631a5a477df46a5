"""A scripted OpenAI-compatible server for balancing and health tests (a test double, no model).

Run as a script so a test can start it as a real process on loopback and kill it (SIGKILL)
mid-run: `python fake_openai.py --port P --name r0 [--delay S] [--status 500]`.
Its completion text names the replica that wrote it, and echoes the seed and the user turn.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse


def create_app(name: str, model: str, delay_s: float, status: int) -> FastAPI:
    app = FastAPI()
    counts = {"chat": 0}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model"}]}

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return counts

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> JSONResponse:
        counts["chat"] += 1
        await asyncio.sleep(delay_s)
        if status != 200:
            return JSONResponse({"error": {"message": "scripted failure", "code": status}}, status_code=status)
        user = body["messages"][-1]["content"]
        text = f"Doc 1: {name} seed={body.get('seed')} model={body['model']} system={body['messages'][0]!r} {user}"
        return JSONResponse({
            "id": "x", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(user.split()) + len(text.split())},
        })

    return app


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", default="r0")
    p.add_argument("--model", default="fake-sim")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--status", type=int, default=200)
    a = p.parse_args()
    uvicorn.run(create_app(a.name, a.model, a.delay, a.status), host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
