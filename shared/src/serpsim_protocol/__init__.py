"""serpsim's protocol: wire models and the async client shared by the simulator and the trainer."""

from .client import ClientStats, RetryPolicy, SearchClient
from .common import QUALITIES, Quality, SimulationInfo, WireModel
from .errors import SearchError, SearchHTTPError, SearchRateLimited, SearchTimeout, SearchTransportError
from .retrieve import RetrievedDocument, RetrieveError, RetrieveHit, RetrieveRequest, RetrieveResponse, per_query
from .serpapi import (
    AccountResponse,
    ErrorResponse,
    OrganicResult,
    SearchInformation,
    SearchMetadata,
    SearchRequest,
    SearchResponse,
    SerpApiPagination,
)

__all__ = [
    "QUALITIES",
    "AccountResponse",
    "ClientStats",
    "ErrorResponse",
    "OrganicResult",
    "Quality",
    "RetrieveError",
    "RetrieveHit",
    "RetrieveRequest",
    "RetrieveResponse",
    "RetrievedDocument",
    "RetryPolicy",
    "SearchClient",
    "SearchError",
    "SearchHTTPError",
    "SearchInformation",
    "SearchMetadata",
    "SearchRateLimited",
    "SearchRequest",
    "SearchResponse",
    "SearchTimeout",
    "SearchTransportError",
    "SerpApiPagination",
    "SimulationInfo",
    "WireModel",
    "per_query",
]
