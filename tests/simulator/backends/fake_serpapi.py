"""A fake SerpApi on loopback: a real HTTP server answering like serpapi.com/search.json.

What it answers depends on the query, so one server serves every case:
    q = "err400" | "err401" | "err403" | "err429" | "err500" | "err503"   SerpApi's error bodies
    q = "slow"       answers after `slow_s` seconds (the client's timeout is shorter)
    q = "garbage"    200 with an HTML body
    q = "empty"      200 with SerpApi's "hasn't returned any results" answer
    q = "echo"       401 whose message repeats the key it was sent (a leaky upstream)
    anything else    200 with `num` organic results for the query, from `start` on
A request with another api_key gets SerpApi's 401, as the real service does. Every request's
parameters are recorded in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

INVALID_KEY = "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"
OUT_OF_SEARCHES = "Your account has run out of searches."
NO_RESULTS = "Google hasn't returned any results for this query."
RETRY_LATER = "We couldn't get valid results for this search. Please try again later."


@dataclass
class FakeSerpApi:
    key: str
    url: str = ""
    slow_s: float = 2.0
    requests: list[dict[str, str]] = field(default_factory=list)


def _organic(q: str, num: int, start: int) -> list[dict[str, Any]]:
    return [
        {
            "position": start + i + 1,
            "title": f"{q} result {start + i + 1}",
            "link": f"https://example.org/{q.replace(' ', '-')}/{start + i + 1}",
            "displayed_link": f"https://example.org › {start + i + 1}",
            "snippet": f"Snippet {start + i + 1} about {q}.",
            "source": "Example",
        }
        for i in range(num)
    ]


def _answer(fake: FakeSerpApi, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    q = params.get("q", "")
    if q == "echo":
        return 401, {}, json.dumps({"error": f"Invalid API key {params.get('api_key')}."}).encode()
    if params.get("api_key") != fake.key:
        return 401, {}, json.dumps({"error": INVALID_KEY}).encode()
    errors = {
        "err400": (400, {"error": "Missing query `q` parameter."}),
        "err401": (401, {"error": INVALID_KEY}),
        "err403": (403, {"error": "Your account has been deleted."}),
        "err429": (429, {"error": OUT_OF_SEARCHES}),
        "err500": (500, {"error": "Internal error."}),
        "err503": (503, {"search_metadata": {"status": "Error"}, "error": RETRY_LATER}),
    }
    if q in errors:
        status, body = errors[q]
        headers = {"Retry-After": "120"} if status == 429 else {}
        return status, headers, json.dumps(body).encode()
    if q == "slow":
        time.sleep(fake.slow_s)
    if q == "garbage":
        return 200, {"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>"
    metadata = {"id": "fake", "status": "Success", "created_at": "2026-11-01 00:00:00 UTC"}
    search_parameters = {k: v for k, v in params.items() if k != "api_key"}
    if q == "empty":
        body = {
            "search_metadata": metadata, "search_parameters": search_parameters,
            "search_information": {"query_displayed": q, "organic_results_state": "Fully empty"}, "error": NO_RESULTS,
        }
        return 200, {}, json.dumps(body).encode()
    num, start = int(params.get("num", "10")), int(params.get("start", "0"))
    body = {
        "search_metadata": metadata, "search_parameters": search_parameters,
        "search_information": {"query_displayed": q, "total_results": 1234},
        "organic_results": _organic(q, num, start),
    }
    return 200, {}, json.dumps(body).encode()


@contextmanager
def serve_fake_serpapi(key: str, slow_s: float = 2.0) -> Iterator[FakeSerpApi]:
    fake = FakeSerpApi(key=key, slow_s=slow_s)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path not in ("/search", "/search.json"):
                status, headers, body = 404, {}, json.dumps({"error": "Not found."}).encode()
            else:
                fake.requests.append(params)
                status, headers, body = _answer(fake, params)
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
