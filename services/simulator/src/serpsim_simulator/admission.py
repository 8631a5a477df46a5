"""Admission control in front of the engine: a bounded number running, a bounded queue, then 503.

A trainer burst beyond what the engine can absorb gets `503 Retry-After` at once instead of
waiting out its deadline in an unbounded queue. Built in the lifespan; `Simulator` enters it
around each engine call, so cache hits never queue.
"""

from __future__ import annotations

import asyncio

from .errors import Overloaded
from .metrics import Metrics

OVERLOADED = "The simulator is at capacity. Please try again later."


class Admission:
    def __init__(self, max_in_flight: int, max_queue: int, retry_after_s: int = 1, metrics: Metrics | None = None) -> None:
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)
        self.running = 0
        self.waiting = 0
        if metrics is not None:
            # Read when /metrics is scraped, not set on every transition: no per-request cost.
            metrics.queue_depth.set_function(lambda: self.waiting)
            metrics.engine_in_flight.set_function(lambda: self.running)

    def slot(self) -> _Slot:
        """`async with admission.slot()`: run now, wait in the bounded queue, or raise Overloaded
        (503 + Retry-After)."""
        return _Slot(self)


class _Slot:
    """One engine call's place; a class rather than `@asynccontextmanager`, which builds a
    generator per request on the hot path."""

    __slots__ = ("admission",)

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    async def __aenter__(self) -> None:
        a = self.admission
        if a._slots.locked() and a.waiting >= a.max_queue:
            if a.metrics is not None:
                a.metrics.rejected.labels("overload").inc()
            raise Overloaded(OVERLOADED, headers={"Retry-After": str(a.retry_after_s)})
        a.waiting += 1
        try:
            await a._slots.acquire()  # cancelled by the deadline or a disconnect: leaves the queue
        finally:
            a.waiting -= 1
        a.running += 1

    async def __aexit__(self, *exc_info: object) -> None:
        a = self.admission
        a.running -= 1
        a._slots.release()
