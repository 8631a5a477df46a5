"""Admission control in front of the engine: a bounded number running, a bounded queue, then 503.

A trainer burst beyond what the engine can absorb gets `503 Retry-After` at once instead of
waiting out its deadline in an unbounded queue. Built in the lifespan; `Simulator` enters it
around each engine call, so cache hits never queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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

    def _publish(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.waiting)
            self.metrics.engine_in_flight.set(self.running)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Run now, wait in the bounded queue, or raise Overloaded (503 + Retry-After)."""
        if self._slots.locked() and self.waiting >= self.max_queue:
            if self.metrics is not None:
                self.metrics.rejected.labels("overload").inc()
            raise Overloaded(OVERLOADED, headers={"Retry-After": str(self.retry_after_s)})
        self.waiting += 1
        self._publish()
        try:
            await self._slots.acquire()  # cancelled by the deadline or a disconnect: leaves the queue
        finally:
            self.waiting -= 1
            self._publish()
        self.running += 1
        self._publish()
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
            self._publish()
