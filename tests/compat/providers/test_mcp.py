"""The MCP `web_search` tool through the official SDK's own client (`mcp` 2.3.0), over
streamable HTTP (`/mcp` on the running simulator) and over stdio (`serpsim-simulator mcp`
launched by the client), with the keys and accounting of every other route."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"
STDIO_KEY = "mcp-stdio-key"


def _http(url: str, key: str | None = None) -> Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Client(streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=120)))


async def _call(client: Client, arguments: dict[str, Any]) -> tuple[bool, Any]:
    async with client as c:
        result = await c.call_tool("web_search", arguments)
    text = result.content[0].text
    return result.is_error, text if result.is_error else json.loads(text)


def test_http_tool_schema_and_corpus_rows(simulator, corpus) -> None:
    name, rows = corpus

    async def run() -> tuple[Any, tuple[bool, Any], tuple[bool, Any]]:
        async with _http(simulator.base_url) as c:
            tools = await c.list_tools()
        return (
            tools,
            await _call(_http(simulator.base_url), {"query": EIFFEL_QUERY, "num_results": 2, "backend": name}),
            await _call(_http(simulator.base_url), {"query": EIFFEL_QUERY, "backend": name, "quality": "noisy"}),
        )

    tools, (failed, found), (refused, message) = asyncio.run(run())
    (tool,) = tools.tools
    assert tool.name == "web_search" and tool.input_schema["required"] == ["query"]
    assert {"num_results", "quality", "noise_ratio", "backend"} <= set(tool.input_schema["properties"])
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    assert not failed and found["results"][0] == {"title": EIFFEL, "url": found["results"][0]["url"], "snippet": eiffel["text"]}
    assert refused and "real search" in message and "quality" in message


def test_http_keys_and_accounting(keyed_simulator) -> None:
    key = keyed_simulator.api_key
    before = httpx.get(f"{keyed_simulator.base_url}/account.json", params={"api_key": key}).json()["total_searches"]
    wrong = asyncio.run(_call(_http(keyed_simulator.base_url, "wrong"), {"query": "hamlet"}))
    assert wrong[0] and "Invalid API key" in wrong[1]
    failed, found = asyncio.run(_call(_http(keyed_simulator.base_url, key), {"query": "who wrote hamlet", "num_results": 3, "noise_ratio": 1.0, "seed": 4}))
    assert not failed and len(found["results"]) == 3 and [r["label"] for r in found["results"]] == ["noisy"] * 3
    after = httpx.get(f"{keyed_simulator.base_url}/account.json", params={"api_key": key}).json()["total_searches"]
    assert after == before + 1  # the refused call was never admitted; the search was


def _stdio_env(corpus_index, backend: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", SERPSIM_CACHE__PATH=":memory:", SERPSIM_LOG_FORMAT="text",
        SERPSIM_AUTH__API_KEYS=json.dumps([STDIO_KEY]),
        # Only the corpus: the engine-backed tool is tested over HTTP; stdio needs no model load.
        SERPSIM_BACKENDS=json.dumps([{"kind": "corpus", "name": backend, "index": str(corpus_index)}]),
    )
    return env


def test_stdio_through_the_cli(sim_python, corpus_index, corpus) -> None:
    name, rows = corpus
    params = StdioServerParameters(
        command=str(sim_python), args=["-m", "serpsim_simulator.cli", "mcp", "--api-key", STDIO_KEY],
        env=_stdio_env(corpus_index, name),
    )
    failed, found = asyncio.run(_call(Client(params), {"query": EIFFEL_QUERY, "num_results": 3}))
    eiffel = next(r for r in rows if r["title"] == EIFFEL)
    assert not failed and found["backend"] == name and found["results"][0]["snippet"] == eiffel["text"]


def test_stdio_wrong_key_stops_at_start(sim_python, corpus_index, corpus) -> None:
    env = {**_stdio_env(corpus_index, corpus[0]), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(
        [str(sim_python), "-m", "serpsim_simulator.cli", "mcp", "--api-key", "wrong"],
        env=env, input="", capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "Invalid API key" in done.stderr and done.stdout == ""


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
