"""One SerpApi search over HTTP, with SerpApi's errors mapped to the simulator's.

| SerpApi answers                                  | we raise                       | status |
|--------------------------------------------------|--------------------------------|--------|
| 200 with results, or "hasn't returned any results" | (a result; empty is not an error) | 200 |
| 400 missing or invalid parameter                 | InvalidParameter (its message) | 400    |
| 401 invalid key, 403 account or permission       | UpstreamBadResponse            | 502    |
| 429 hourly throughput or "run out of searches"   | UpstreamUnavailable            | 503    |
| 503                                              | UpstreamUnavailable            | 503    |
| other 4xx and 5xx, body not a JSON object        | UpstreamBadResponse            | 502    |
| no answer within `timeout_s`                     | UpstreamTimeout                | 504    |
| connection refused or reset                      | UpstreamUnavailable            | 503    |

A rejected key is this server's configuration, not the caller's mistake, so it is a 502, never
a 401 that would tell the caller to fix a key they do not hold. No retries: a retry spends
money, and the caller (or its own client library) decides.

The key travels as SerpApi's `api_key` query parameter, so it is in every request URL. It never
leaves in a message: error texts are built here (never `str(httpx_error)`, which can carry the
URL) and scrubbed of the key; and a logging filter redacts it from httpx's request log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from ...errors import InvalidParameter, SimulatorError
from ..errors import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable

EMPTY_RESULTS = "hasn't returned any results"
"""SerpApi's 200 answer for no results: `"Google hasn't returned any results for this query."`"""

_REDACTED = "<redacted>"
_MAX_MESSAGE = 300


def not_billed(exc: SimulatorError) -> SimulatorError:
    """Mark an error SerpApi answered with an error status (or that never reached it): SerpApi
    bills no such search, so the spend cap gives it back."""
    exc.billed = False  # type: ignore[attr-defined]
    return exc


def billed(exc: SimulatorError) -> bool:
    return getattr(exc, "billed", True)


class RedactSecret(logging.Filter):
    """Replace a secret in a log record's message and arguments (httpx logs request URLs)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret in str(record.msg):
            record.msg = str(record.msg).replace(self.secret, _REDACTED)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                str(a).replace(self.secret, _REDACTED) if self.secret in str(a) else a for a in args
            )
        return True


class SerpApiClient:
    def __init__(
        self, base_url: str, api_key: str, *, timeout_s: float = 30.0, max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/search.json"
        self._key = api_key
        self._filter = RedactSecret(api_key)
        self._loggers = [logging.getLogger("httpx"), logging.getLogger("httpcore")]
        for logger in self._loggers:
            logger.addFilter(self._filter)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def _scrub(self, text: str) -> str:
        text = text.replace(self._key, _REDACTED)
        return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."

    async def search(self, params: Mapping[str, str]) -> dict[str, Any]:
        """SerpApi's JSON answer for `params` (without the key), or a mapped error."""
        try:
            response = await self._client.get(self.url, params={**params, "api_key": self._key})
        except httpx.TimeoutException:
            raise UpstreamTimeout("SerpApi did not answer in time.") from None
        except httpx.ConnectError:
            raise not_billed(UpstreamUnavailable("SerpApi could not be reached (connection failed).")) from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"SerpApi's answer was cut off ({type(exc).__name__}).") from None
        body = self._json(response)
        if response.status_code != 200:
            raise not_billed(self._error(response, body))
        if body is None:
            raise UpstreamBadResponse("SerpApi answered something that is not a JSON object.")
        status = (body.get("search_metadata") or {}).get("status")
        error = body.get("error")
        if status == "Error" or (isinstance(error, str) and EMPTY_RESULTS not in error):
            message = f"SerpApi could not complete the search: {self._scrub(str(error or status))}"
            raise not_billed(UpstreamBadResponse(message))
        return body

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any] | None:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return None
        return body if isinstance(body, dict) else None

    def _error(self, response: httpx.Response, body: dict[str, Any] | None) -> SimulatorError:
        status = response.status_code
        said = self._scrub(str(body.get("error"))) if body and body.get("error") else f"HTTP {status}"
        if status == 400:
            return InvalidParameter(said)
        if status in (401, 403):
            return UpstreamBadResponse(f"SerpApi rejected this server's API key or account ({status}): {said}")
        if status in (429, 503):
            headers = {"Retry-After": response.headers["retry-after"]} if "retry-after" in response.headers else None
            return UpstreamUnavailable(f"SerpApi refused the search for now ({status}): {said}", headers=headers)
        return UpstreamBadResponse(f"SerpApi failed ({status}): {said}")

    async def aclose(self) -> None:
        await self._client.aclose()
        for logger in self._loggers:
            logger.removeFilter(self._filter)
