"""Exceptions raised by `SearchClient`.

    SearchError                  every failure of a search call
    ├── SearchHTTPError          the backend answered with an error status (.status, .message)
    │   └── SearchRateLimited    429: out of searches or over the rate limit (.retry_after)
    └── SearchTransportError     no usable answer: connection refused, reset, or unparseable body
        └── SearchTimeout        the call (all attempts together) ran past its deadline

A caller that must never crash a training step catches `SearchError` and counts it.
"""

from __future__ import annotations


class SearchError(Exception):
    """A search call failed after its bounded retries."""


class SearchHTTPError(SearchError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class SearchRateLimited(SearchHTTPError):
    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class SearchTransportError(SearchError):
    """The backend could not be reached or sent something that is not the protocol."""


class SearchTimeout(SearchTransportError):
    """The call ran past its deadline."""
