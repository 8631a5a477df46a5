"""What the app's lifespan builds and every route reads (Starlette lifespan state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from .accounts import Accounts
from .admission import Admission
from .api.contract import Contract
from .engines.base import Engine
from .metrics import Metrics
from .security import KeyStore
from .serving_retrieve import RetrieveService
from .serving_search import SearchService
from .settings import Settings
from .store import SearchStore


@dataclass
class EngineStatus:
    """Whether the engine finished loading, and why not if it failed."""

    loaded: bool = False
    error: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class AppState(TypedDict):
    settings: Settings
    contract: Contract
    engine: Engine
    engine_status: EngineStatus
    store: SearchStore
    accounts: Accounts
    metrics: Metrics
    keys: KeyStore
    admission: Admission
    search: SearchService
    retrieve: RetrieveService
