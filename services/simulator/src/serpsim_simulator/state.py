"""What the app's lifespan builds and every route reads (Starlette lifespan state)."""

from __future__ import annotations

from typing import TypedDict

from .api.contract import Contract
from .api.security import KeyStore
from .metrics import Metrics
from .search.accounts import Accounts
from .search.service import SearchService
from .settings import Settings


class AppState(TypedDict):
    settings: Settings
    contract: Contract
    search: SearchService
    accounts: Accounts
    metrics: Metrics
    keys: KeyStore
