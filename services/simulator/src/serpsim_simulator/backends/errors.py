"""Backend errors: start-up errors (raised before serving) and upstream errors (HTTP status).

Start-up errors are `BackendConfigError`s (a `ValueError`): a bad corpus line, a missing or
corrupt index, a manifest from another format version, a missing SerpApi key. The message says
which file (and line) and what to do; `serve` and `index` print it and exit.

Request-time errors are the simulator's `SimulatorError`s (errors.py), so the routes render
them like any other: the client's mistakes stay 4xx (`InvalidParameter`, `RateLimited`), an
upstream's failures become 502 (bad answer), 503 (unavailable, out of searches) or 504 (timed
out). The subclasses below only name the upstream cases; they add no behaviour.
"""

from __future__ import annotations

from ..errors import EngineBadOutput, EngineUnavailable, SimulatorError


class BackendConfigError(ValueError):
    """A backend cannot start: bad configuration, corpus or index."""


class CorpusError(BackendConfigError):
    """A corpus file that cannot be indexed; the message starts with `path:line:`."""


class IndexBuildError(BackendConfigError):
    """An index could not be built from valid input (a bad factory string, too few passages)."""


class IndexLoadError(BackendConfigError):
    """An index directory that cannot be served: missing, corrupt, or from another version."""


class UpstreamBadResponse(EngineBadOutput):
    """502: the upstream answered something unusable (malformed JSON, a 5xx, a rejected key)."""


class UpstreamUnavailable(EngineUnavailable):
    """503: the upstream refuses for now (its rate limit, an exhausted plan, unreachable)."""


class UpstreamTimeout(SimulatorError):
    """504: the upstream did not answer within the configured timeout."""

    status = 504
