"""serpsim's protocol: wire models and the async client shared by the simulator and the trainer."""

from .client import ClientStats, RetryPolicy, SearchClient
from .common import MAX_SEED, QUALITIES, NonBlank, Quality, SimulationInfo, WireModel
from .errors import SearchError, SearchHTTPError, SearchRateLimited, SearchTimeout, SearchTransportError
from .retrieve import (
    DEFAULT_TOPK,
    RetrievedDocument,
    RetrieveError,
    RetrieveHit,
    RetrieveItem,
    RetrieveQuery,
    RetrieveRequest,
    RetrieveResponse,
)
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
    "DEFAULT_TOPK",
    "MAX_SEED",
    "QUALITIES",
    "AccountResponse",
    "ClientStats",
    "ErrorResponse",
    "NonBlank",
    "OrganicResult",
    "Quality",
    "RetrieveError",
    "RetrieveHit",
    "RetrieveItem",
    "RetrieveQuery",
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
]
